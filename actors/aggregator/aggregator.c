#include "aggregator.h"

#include "joins.h"
#include "curve.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_BATCHERS 16
#define READ_BURST 256 /* messages read from one socket per wake-up, so neither starves */
#define WARN_BUDGET 20 /* warnings about bad input per stats interval; the rest are counted */
#define MAX_TICK_MS 100

typedef struct {
    rtp_peer_t id;
    uint64_t credits;
} batcher_t;

/* The ready queue: a ring of messages that grows by doubling. Its length is bounded
 * by the cap on pending + ready, not by the ring. */
typedef struct {
    rtp_msg_t **items;
    size_t cap, head, count;
} queue_t;

typedef struct {
    const aggregator_config_t *cfg;
    zsock_t *pull, *router;
    joins_t *joins;
    queue_t ready;
    batcher_t batchers[MAX_BATCHERS];
    int nbatchers, next_batcher;
    int stopping, paused;
    int64_t paused_since_ms, drain_deadline_ms, next_stats_ms;
    int warnings;    /* in this stats interval */
    size_t max_held; /* the most pending + ready ever held */
    uint64_t joined, incomplete, evicted, duplicates, late, invalid, malformed, unexpected, deadletters, sent,
        pauses, suppressed;
    rtp_metrics_t *metrics; /* NULL unless --metrics-port */
} agg_t;

static int s_push(queue_t *q, rtp_msg_t *msg)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        rtp_msg_t **items = malloc(cap * sizeof *items);
        if (!items)
            return -1;
        for (size_t i = 0; i < q->count; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->cap = cap;
        q->head = 0;
    }
    q->items[(q->head + q->count) % q->cap] = msg;
    q->count++;
    return 0;
}

static rtp_msg_t *s_pop(queue_t *q)
{
    if (!q->count)
        return NULL;
    rtp_msg_t *msg = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return msg;
}

static void s_enqueue(agg_t *a, rtp_msg_t *msg)
{
    if (s_push(&a->ready, msg) != 0) {
        rtp_error("out of memory: cannot queue %s message of key %" PRIu64, rtp_msg_type_name(msg->type),
                  msg->key);
        rtp_msg_destroy(&msg);
    }
}

/* A warning about bad input, at most WARN_BUDGET per stats interval (a flood of
 * garbage must not flood the log; the stats line counts all of it). */
static void s_warn(agg_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_warn(agg_t *a, const char *fmt, ...)
{
    if (a->warnings >= WARN_BUDGET) {
        a->suppressed++;
        return;
    }
    a->warnings++;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rtp_warn("%s", line);
}

static const char *s_peer_hex(const rtp_peer_t *peer, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < peer->len && n + 3 < cap; i++)
        n += (size_t) snprintf(buf + n, cap - n, "%02x", peer->data[i]);
    return buf;
}

static size_t s_load(const agg_t *a)
{
    return joins_pending(a->joins) + a->ready.count;
}

static uint64_t s_credits(const agg_t *a)
{
    uint64_t sum = 0;
    for (int i = 0; i < a->nbatchers; i++)
        sum += a->batchers[i].credits;
    return sum;
}

static void s_stats(agg_t *a, const char *label)
{
    rtp_info("%s joined=%" PRIu64 " pending=%zu ready=%zu credits=%" PRIu64 " incomplete=%" PRIu64
             " evicted=%" PRIu64 " duplicates=%" PRIu64 " late=%" PRIu64 " deadletters=%" PRIu64
             " sent=%" PRIu64 " malformed=%" PRIu64 " unexpected=%" PRIu64 " invalid=%" PRIu64
             " batchers=%d paused=%d pauses=%" PRIu64 " max_held=%zu"
             " suppressed_warnings=%" PRIu64,
             label, a->joined, joins_pending(a->joins), a->ready.count, s_credits(a), a->incomplete,
             a->evicted, a->duplicates, a->late, a->deadletters, a->sent, a->malformed, a->unexpected,
             a->invalid, a->nbatchers, a->paused, a->pauses, a->max_held, a->suppressed);
}

/* --- batchers and credit ---------------------------------------------------- */

static batcher_t *s_find(agg_t *a, const rtp_peer_t *peer)
{
    for (int i = 0; i < a->nbatchers; i++)
        if (a->batchers[i].id.len == peer->len && memcmp(a->batchers[i].id.data, peer->data, peer->len) == 0)
            return &a->batchers[i];
    return NULL;
}

static void s_forget(agg_t *a, batcher_t *b, const char *why)
{
    char hex[80];
    rtp_info("batcher %s %s; its %" PRIu64 " unused credits are void", s_peer_hex(&b->id, hex, sizeof hex),
             why, b->credits);
    *b = a->batchers[--a->nbatchers];
    if (a->next_batcher >= a->nbatchers)
        a->next_batcher = 0;
}

static void s_on_credit(agg_t *a, const rtp_peer_t *peer, uint32_t credit)
{
    batcher_t *b = s_find(a, peer);
    if (!b) {
        if (a->nbatchers == MAX_BATCHERS) {
            /* a new connection of a batcher we still list (its old one died unnoticed)
             * is likelier than 16 live batchers: replace one without credit, else the first */
            int victim = 0;
            for (int i = 0; i < a->nbatchers; i++)
                if (a->batchers[i].credits == 0)
                    victim = i;
            s_forget(a, &a->batchers[victim], "is replaced by a new one (too many batchers)");
        }
        b = &a->batchers[a->nbatchers++];
        b->id = *peer;
        b->credits = 0;
        char hex[80];
        rtp_info("batcher %s connected, granting %u", s_peer_hex(peer, hex, sizeof hex), credit);
    }
    b->credits += credit;
}

/* The next batcher with credit, round robin; NULL when none has any. */
static batcher_t *s_pick(agg_t *a)
{
    for (int i = 0; i < a->nbatchers; i++) {
        int at = (a->next_batcher + i) % a->nbatchers;
        if (a->batchers[at].credits > 0) {
            a->next_batcher = (at + 1) % a->nbatchers;
            return &a->batchers[at];
        }
    }
    return NULL;
}

/* Sends ready messages while some batcher has credit. */
static void s_deliver(agg_t *a)
{
    while (a->ready.count) {
        batcher_t *b = s_pick(a);
        if (!b)
            return;
        /* as many as it granted, up to a bundle: one message, one wake-up of the batcher */
        rtp_msg_t *bundle[RTP_BUNDLE_MAX];
        size_t n = 0;
        while (n < RTP_BUNDLE_MAX && n < a->ready.count && n < b->credits) {
            bundle[n] = a->ready.items[(a->ready.head + n) % a->ready.cap];
            n++;
        }
        if (rtp_msg_send_bundle(bundle, n, a->router, &b->id, ZMQ_DONTWAIT) != 0) {
            if (errno == EHOSTUNREACH) {
                s_forget(a, b, "is gone");
                continue;
            }
            if (errno != EAGAIN)
                rtp_warn("cannot send to a batcher: %s", zmq_strerror(errno));
            return; /* its pipe is full: later */
        }
        b->credits -= n;
        a->sent += n;
        for (size_t i = 0; i < n; i++) {
            rtp_msg_t *msg = s_pop(&a->ready);
            rtp_msg_destroy(&msg);
        }
    }
}

/* --- input -------------------------------------------------------------------- */

static void s_expire(agg_t *a, int64_t started_by, int64_t now, const char *suffix, size_t max);

static void s_on_part(agg_t *a, rtp_msg_t *part, int64_t now)
{
    uint64_t key = part->key;
    int kind = part->kind;
    rtp_msg_t *joined = NULL;
    if (s_load(a) >= a->cfg->max_pending && a->ready.count == 0 && !joins_known(a->joins, key)) {
        /* At the cap with nothing ready, every held message is a join waiting for
         * parts: only reading can free room, so we read, and a new join takes the
         * place of the oldest one, reported as incomplete. */
        uint64_t before = a->incomplete;
        s_expire(a, INT64_MAX, now, " (evicted at the --max-pending cap)", 1);
        a->evicted += a->incomplete - before;
    }
    switch (joins_add(a->joins, &part, now, &joined)) {
    case JOIN_PENDING:
        break;
    case JOIN_COMPLETE:
        a->joined++;
        s_enqueue(a, joined);
        break;
    case JOIN_DUPLICATE:
        a->duplicates++;
        rtp_debug("duplicate %s part of key %" PRIu64 ": the first one won", joins_part_name(kind), key);
        break;
    case JOIN_LATE:
        a->late++;
        s_warn(a, "%s part of key %" PRIu64 " arrived after its join was reported incomplete: dropped",
               joins_part_name(kind), key);
        break;
    case JOIN_INVALID:
        a->invalid++;
        s_warn(a, "dropped a PART of key %" PRIu64 " with unknown kind %d (or no memory for a new join)", key,
               kind);
        break;
    }
}

/* One message from the broker: an event's parts arrive together as one bundle. */
static void s_on_broker_message(agg_t *a, rtp_msg_t *msg, int64_t now)
{
    if (msg->type == RTP_MSG_PART)
        s_on_part(a, msg, now);
    else if (msg->type == RTP_MSG_DEADLETTER) {
        /* a dead letter with a key ends that event: its join will never complete */
        if (msg->key)
            joins_abandon(a->joins, msg->key);
        a->deadletters++;
        s_enqueue(a, msg);
    } else {
        a->unexpected++;
        s_warn(a, "dropped an unexpected %s message from the broker", rtp_msg_type_name(msg->type));
        rtp_msg_destroy(&msg);
    }
}

/* Reads bundles from the broker (each the parts of one or more events) until at
 * least `limit` messages were read, or none waits. */
static void s_read_pull(agg_t *a, size_t limit)
{
    int64_t now = rtp_mono_ms();
    for (size_t i = 0; i < limit;) {
        rtp_err_t err = {{0}};
        rtp_msg_t *bundle[RTP_BUNDLE_MAX];
        size_t n = rtp_msg_recv_bundle(a->pull, NULL, ZMQ_DONTWAIT, bundle, RTP_BUNDLE_MAX, &err);
        if (!n) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            a->malformed++;
            s_warn(a, "dropped a malformed message from the broker: %s", err.msg);
            i++;
            continue;
        }
        i += n;
        for (size_t k = 0; k < n; k++)
            s_on_broker_message(a, bundle[k], now);
        size_t load = s_load(a);
        if (load > a->max_held)
            a->max_held = load;
    }
}

static void s_read_router(agg_t *a)
{
    for (int i = 0; i < READ_BURST; i++) {
        rtp_err_t err = {{0}};
        rtp_peer_t peer = {{0}, 0};
        rtp_msg_t *msg = rtp_msg_recv(a->router, &peer, ZMQ_DONTWAIT, &err);
        if (!msg) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            a->malformed++;
            s_warn(a, "dropped a malformed message on the batchers' socket: %s", err.msg);
            continue;
        }
        if (msg->type == RTP_MSG_CREDIT)
            s_on_credit(a, &peer, msg->credit);
        else if (msg->type == RTP_MSG_DISCONNECT) {
            batcher_t *b = s_find(a, &peer);
            if (b)
                s_forget(a, b, "said goodbye");
        } else if (msg->type != RTP_MSG_HEARTBEAT) {
            a->unexpected++;
            s_warn(a, "dropped an unexpected %s message on the batchers' socket",
                   rtp_msg_type_name(msg->type));
        }
        rtp_msg_destroy(&msg);
    }
}

/* --- timeouts, the cap, stopping ---------------------------------------------- */

/* Reports up to max joins started at or before started_by as incomplete. */
static void s_expire(agg_t *a, int64_t started_by, int64_t now, const char *suffix, size_t max)
{
    join_report_t r;
    rtp_msg_t *dl;
    for (size_t n = 0; n < max && (dl = joins_expire(a->joins, started_by, now, suffix, &r)) != NULL; n++) {
        a->incomplete++;
        rtp_warn("incomplete join: key %" PRIu64 " (tweet %s) is missing %s after %" PRId64
                 " ms%s; sent on as a dead letter",
                 r.key, r.id, r.missing, r.age_ms, suffix);
        s_enqueue(a, dl);
    }
}

/* Whether to read from the broker now: below the cap, or at it with nothing ready
 * (then waiting could never free room; see s_on_part). Logs the start and end of
 * each episode of not reading. */
static int s_may_read(agg_t *a, size_t load, int64_t now)
{
    size_t cap = a->cfg->max_pending;
    int blocked = load >= cap && a->ready.count > 0;
    if (!a->paused && blocked) {
        a->paused = 1;
        a->pauses++;
        a->paused_since_ms = now;
        rtp_warn(
            "holding %zu joins and records, the cap (--max-pending %zu): not reading from the broker until "
            "a batcher takes some (the broker is pushed back); ready=%zu credits=%" PRIu64,
            load, cap, a->ready.count, s_credits(a));
    } else if (a->paused && load <= cap / 4 * 3) {
        a->paused = 0;
        rtp_info("below the cap again (%zu held) after %" PRId64 " ms", load, now - a->paused_since_ms);
    }
    return !a->stopping && !blocked;
}

static void s_begin_stop(agg_t *a, int64_t now)
{
    a->stopping = 1;
    /* what the broker already put in our socket is ours: read it, bounded by the
     * socket's high-water mark (plus what arrives meanwhile, up to the same again) */
    size_t before = a->joined + joins_pending(a->joins);
    s_read_pull(a, ((size_t) a->cfg->rcvhwm * 2 + READ_BURST) * RTP_BUNDLE_MAX);
    zsock_destroy(&a->pull);
    rtp_info("stopping: read the parts queued in the socket (%zu new), stopped reading from the broker",
             (size_t) (a->joined + joins_pending(a->joins) - before));
    s_expire(a, INT64_MAX, now, " (at shutdown)", SIZE_MAX);
    a->drain_deadline_ms = now + a->cfg->drain_timeout_ms;
    rtp_info("stopping: delivering %zu ready messages as credit allows (credits=%" PRIu64 ", up to %d ms)",
             a->ready.count, s_credits(a), a->cfg->drain_timeout_ms);
}

static int s_setup(agg_t *a)
{
    a->joins = joins_new(a->cfg->max_pending > 65536 ? a->cfg->max_pending : 65536);
    a->pull = zsock_new(ZMQ_PULL);
    a->router = zsock_new(ZMQ_ROUTER);
    if (!a->joins || !a->pull || !a->router) {
        rtp_error("out of memory");
        return -1;
    }
    zsock_set_rcvhwm(a->pull, a->cfg->rcvhwm);
    zsock_set_linger(a->pull, 0);
    zsock_set_router_mandatory(a->router, 1);
    zsock_set_sndhwm(a->router, 0); /* what we send is bounded by the credit we got */
    zsock_set_linger(a->router, 2000);
    rtp_err_t err;
    if (rtp_curve_server(a->router, &err) != 0 || rtp_curve_client(a->pull, &err) != 0) {
        rtp_error("%s", err.msg);
        return -1;
    }
    if (zsock_bind(a->router, "%s", a->cfg->bind) < 0) {
        rtp_error("cannot bind the batchers' socket to %s: %s", a->cfg->bind, zmq_strerror(zmq_errno()));
        return -1;
    }
    if (zsock_connect(a->pull, "%s", a->cfg->results) != 0) {
        rtp_error("cannot connect to the broker's results at %s: %s", a->cfg->results,
                  zmq_strerror(zmq_errno()));
        return -1;
    }
    char *endpoint = zsock_last_endpoint(a->router); /* the port chosen for a tcp://...:* */
    rtp_info("reading results from %s; batchers connect to %s (max pending %zu, join timeout %d ms)",
             a->cfg->results, endpoint ? endpoint : a->cfg->bind, a->cfg->max_pending,
             a->cfg->join_timeout_ms);
    free(endpoint);
    return 0;
}

static double s_pending_now(void *arg) { return (double) joins_pending(((agg_t *) arg)->joins); }
static double s_ready_now(void *arg) { return (double) ((agg_t *) arg)->ready.count; }
static double s_paused_now(void *arg) { return ((agg_t *) arg)->paused ? 1 : 0; }
static double s_batchers_now(void *arg) { return ((agg_t *) arg)->nbatchers; }
static double s_dropped_now(void *arg)
{
    const agg_t *a = arg;
    return (double) (a->malformed + a->unexpected + a->invalid);
}

/* The aggregator's numbers on --metrics-port, read from its counters at scrape time. */
static void s_metrics_setup(agg_t *a)
{
    a->metrics = rtp_metrics_serve(a->cfg->metrics_port);
    if (!a->metrics)
        return;
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"rtp_aggregator_joined_total", "Events joined (record + 3 results) and queued for a batcher.",
         offsetof(agg_t, joined)},
        {"rtp_aggregator_sent_total", "Records and dead letters sent to batchers (as credited).",
         offsetof(agg_t, sent)},
        {"rtp_aggregator_dead_letters_total", "Dead letters received from the broker and queued.",
         offsetof(agg_t, deadletters)},
        {"rtp_aggregator_incomplete_joins_total", "Joins ended incomplete (timed out, evicted, or at stop): dead letters.",
         offsetof(agg_t, incomplete)},
        {"rtp_aggregator_duplicate_parts_total", "Parts of an event already held or joined: dropped.",
         offsetof(agg_t, duplicates)},
        {"rtp_aggregator_late_parts_total", "Parts of an event already reported incomplete: dropped.",
         offsetof(agg_t, late)},
        {"rtp_aggregator_pauses_total", "Times the cap on held messages stopped reading the broker.",
         offsetof(agg_t, pauses)},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        rtp_metrics_add_u64(a->metrics, RTP_METRIC_COUNTER, counters[i].name, counters[i].help, NULL,
                            (const uint64_t *) ((const char *) a + counters[i].offset));
    rtp_metrics_add_fn(a->metrics, RTP_METRIC_COUNTER, "rtp_aggregator_dropped_total",
                       "Malformed, unexpected or invalid messages dropped.", NULL, s_dropped_now, a);
    rtp_metrics_add_fn(a->metrics, RTP_METRIC_GAUGE, "rtp_aggregator_pending_joins", "Joins waiting for parts.", NULL,
                       s_pending_now, a);
    rtp_metrics_add_fn(a->metrics, RTP_METRIC_GAUGE, "rtp_aggregator_ready",
                       "Complete records and dead letters waiting for batcher credit.", NULL, s_ready_now, a);
    rtp_metrics_add_fn(a->metrics, RTP_METRIC_GAUGE, "rtp_aggregator_paused",
                       "1 while the cap on held messages stops reading the broker.", NULL, s_paused_now, a);
    rtp_metrics_add_fn(a->metrics, RTP_METRIC_GAUGE, "rtp_aggregator_batchers", "Batchers connected.", NULL,
                       s_batchers_now, a);
}

static void s_teardown(agg_t *a)
{
    rtp_metrics_destroy(&a->metrics);
    rtp_msg_t *msg;
    while ((msg = s_pop(&a->ready)) != NULL)
        rtp_msg_destroy(&msg);
    free(a->ready.items);
    joins_destroy(&a->joins);
    zsock_destroy(&a->pull);
    zsock_destroy(&a->router);
}

int aggregator_run(const aggregator_config_t *cfg)
{
    agg_t a;
    memset(&a, 0, sizeof a);
    a.cfg = cfg;
    if (s_setup(&a) != 0) {
        s_teardown(&a);
        return 1;
    }
    s_metrics_setup(&a);
    int status = 0;
    a.next_stats_ms = rtp_mono_ms() + cfg->stats_ms;
    while (1) {
        int64_t now = rtp_mono_ms();
        if (!a.stopping && rtp_stop_requested())
            s_begin_stop(&a, now);
        s_expire(&a, now - cfg->join_timeout_ms, now, "", SIZE_MAX);
        s_deliver(&a);
        if (a.stopping && a.ready.count == 0)
            break;
        if (a.stopping && now >= a.drain_deadline_ms) {
            rtp_error("stopping: %zu messages could not be delivered (no batcher credit within %d ms); "
                      "they are lost here and must be resent upstream",
                      a.ready.count, cfg->drain_timeout_ms);
            status = 1;
            break;
        }
        int read_pull = s_may_read(&a, s_load(&a), now);

        int64_t wake = now + MAX_TICK_MS;
        if (a.next_stats_ms < wake)
            wake = a.next_stats_ms;
        int64_t oldest = joins_oldest_ms(a.joins);
        if (oldest >= 0 && oldest + cfg->join_timeout_ms < wake)
            wake = oldest + cfg->join_timeout_ms;
        if (a.stopping && a.drain_deadline_ms < wake)
            wake = a.drain_deadline_ms;
        zmq_pollitem_t items[2 + RTP_METRICS_POLL_MAX] = {{zsock_resolve(a.router), 0, ZMQ_POLLIN, 0},
                                                          {read_pull ? zsock_resolve(a.pull) : NULL, 0, ZMQ_POLLIN, 0}};
        int n_items = read_pull ? 2 : 1;
        /* the metrics' sockets after the pull slot, which stays at index 1 either way */
        int first_metrics = 2;
        int n_metrics = rtp_metrics_poll_items(a.metrics, items + first_metrics, RTP_METRICS_POLL_MAX);
        if (n_metrics > 0 && !read_pull)
            items[1] = (zmq_pollitem_t){zsock_resolve(a.pull), 0, 0, 0};   /* polled for nothing */
        if (n_metrics > 0)
            n_items = first_metrics + n_metrics;
        int rc = zmq_poll(items, n_items, wake > now ? (long) (wake - now) : 0);
        for (int i = first_metrics; i < n_items; i++)
            if (items[i].revents) {
                rtp_metrics_service(a.metrics);
                break;
            }
        if (rc < 0 && errno != EINTR) {
            rtp_error("poll: %s", zmq_strerror(errno));
            status = 1;
            break;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            s_read_router(&a);
        if (rc > 0 && read_pull && (items[1].revents & ZMQ_POLLIN)) {
            size_t load = s_load(&a);
            size_t room = load < cfg->max_pending ? cfg->max_pending - load : 1;
            s_read_pull(&a, room < READ_BURST ? room : READ_BURST);
        }
        now = rtp_mono_ms();
        if (now >= a.next_stats_ms) {
            s_stats(&a, "stats");
            a.warnings = 0;
            a.next_stats_ms = now + cfg->stats_ms;
        }
    }
    s_stats(&a, "final stats");
    s_teardown(&a);
    return status;
}
