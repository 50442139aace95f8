#include "broker.h"

#include "broker_metrics.h"
#include "curve.h"
#include "log.h"
#include "manager.h"
#include "pool.h"
#include "print_budget.h"
#include "proto.h"
#include "u64map.h"
#include "util.h"

#include <czmq.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_COPIES 3   /* the most workers of one pool that hold the same task */
#define ORIGIN_MAX 64  /* bytes kept of a reader's name (longer ones are truncated copies) */
#define RECENT_PANICS 1024   /* panics that crashed a worker, remembered for their resends */
/* The dead letter of a panic that crashed a worker: the same words every time, so
 * that the store's dedupe keeps one entry when its resend is answered again. */
#define PANIC_REASON "panic: a censor worker crashed on it, as the lab asks"
#define PANIC_RAW "{\"message\": panic}"

/* One event in flight: a tweet (or a panic) and where each pool's task stands. */
typedef struct {
    uint64_t key;
    rtp_msg_t *task;                                  /* the TASK sent to workers */
    rtp_encoded_t task_wire;                          /* the same, encoded once for all its copies */
    char origin[ORIGIN_MAX];
    uint64_t seq;
    uint8_t needed;                                   /* bit per pool that must answer */
    uint8_t done;                                     /* bit per pool that answered */
    uint8_t crashes[RTP_POOL_COUNT];                  /* losses of workers that held it (incidents) */
    uint32_t blamed_in[RTP_POOL_COUNT];               /* the incident that last counted one */
    uint32_t holders[RTP_POOL_COUNT][MAX_COPIES];     /* worker ids; 0 = none */
    uint64_t sent_at[RTP_POOL_COUNT][MAX_COPIES];     /* the broker's dispatch number of each copy */
    uint8_t copies[RTP_POOL_COUNT];                   /* copies sent in the last dispatch */
    uint8_t print_marked;                             /* its censor task has its print mark */
    int64_t dispatched_us[RTP_POOL_COUNT];            /* when (for the task-time histogram) */
    /* each pool's answer, kept until all are in: its number and text (a result's,
     * moved here) */
    double part_number[RTP_POOL_COUNT];
    char *part_text[RTP_POOL_COUNT];
    uint64_t seq_key;                                 /* its key in the broker's by_seq map; 0: not listed */
} event_t;

/* Messages that go as one bundle, encoded as they come (a packed body, see
 * rtp_packed_add): for the aggregator, the parts of the events that completed in
 * one turn of the loop (each event's parts always together). */
typedef struct {
    uint8_t *body;   /* NULL once handed to ZeroMQ; cap is then a size hint */
    size_t len, cap;
    size_t n;        /* messages in it */
} outgoing_t;

typedef broker_counters_t counters_t;   /* shared with broker_metrics.c, which exposes them */

#define SILENT_HOSTS 32   /* hosts whose silences are remembered as one incident */
typedef struct {
    char host[64];        /* "" for workers named without a host */
    uint32_t incident;
    int64_t opened_ms;    /* when the first of its workers was found silent */
} silent_host_t;

typedef struct {
    const broker_config_t *cfg;
    zsock_t *readers, *workers, *results, *hashtags, *control;
    manager_t *manager;
    pool_t *pools[RTP_POOL_COUNT];
    rtp_u64map_t *events;
    /* the same events by (origin, seq): a reader resends what it did not see
     * acknowledged in time, and a resend of an event still in flight here is
     * dropped, since the first copy will be acknowledged (under overload, resends
     * would otherwise take the capacity that is short already) */
    rtp_u64map_t *by_seq;
    /* panics that crashed a worker (by_seq keys, a ring): a reader resends one whose
     * acknowledgement is late, and it is dead-lettered again without a second crash */
    uint64_t recent_panics[RECENT_PANICS];
    size_t next_recent_panic;
    uint64_t next_key;
    /* Workers lost together are one incident: a host cut off silences all its
     * workers at once, and speculative copies of one task on several of them must
     * not count as several crashes (three would make it poison). */
    uint32_t incident;
    /* A host's workers fall silent at the same moment but are found silent over
     * several heartbeat passes (each expires a liveness after its own last word,
     * spread further on a busy machine), and a task handed back by the first may go
     * to another still-unexpired silent one of the same host: workers of one host
     * (the worker name's part before '/') silent at once are one incident. */
    silent_host_t silent[SILENT_HOSTS];
    uint64_t next_dispatch;
    uint32_t next_worker_id;
    /* what the aggregator's socket did not take yet, in order; bounded because no
     * event is read while it is not empty */
    outgoing_t *outbox;
    size_t out_head, out_len, out_cap;
    outgoing_t to_aggregator; /* this turn's bundle, not handed over yet */
    outgoing_t hashtags_out;  /* this turn's HASHTAGS, published as one bundle */
    counters_t n;
    int64_t last_cancel_log_ms;
    /* which reader (routing id) sends each origin's events, for their ACKs */
    struct {
        char origin[ORIGIN_MAX];
        rtp_peer_t peer;
    } readers_by_origin[64];
    int n_origins;
    uint64_t acks_forwarded, acks_unknown;
    broker_metrics_t *metrics;   /* NULL unless --metrics-port */
    print_budget_t *print;       /* which censored tweets are printed */
    /* the monotonic clock, read once after each poll and again before dispatching:
     * every message of a turn is handled within that turn's few milliseconds, and a
     * clock read per message (three per task) was 2 % of the broker's CPU */
    int64_t now_ms, now_us;
} broker_t;

static void s_read_clock(broker_t *b)
{
    b->now_us = rtp_mono_us();
    b->now_ms = b->now_us / 1000;
}

/* ---------- aggregator output, in order, never dropped ---------- */

static void s_outgoing_free(outgoing_t *o)
{
    free(o->body);
    memset(o, 0, sizeof *o);
}

/* Adds msg (not taken: its strings may be views of others') to a bundle. */
static void s_outgoing_add(outgoing_t *o, const rtp_msg_t *msg)
{
    if (rtp_packed_add(&o->body, &o->cap, &o->len, msg) != 0) {
        rtp_error("out of memory encoding a %s", rtp_msg_type_name(msg->type));
        abort();
    }
    o->n++;
}

/* Sends a bundle (emptied when it went; the next one reuses its size hint). */
static int s_outgoing_send(outgoing_t *o, void *sock)
{
    if (rtp_packed_send(&o->body, o->len, sock, NULL, ZMQ_DONTWAIT) != 0)
        return -1;
    o->len = o->n = 0;
    return 0;
}

static void s_flush_outbox(broker_t *b)
{
    while (b->out_len) {
        outgoing_t *o = &b->outbox[b->out_head];
        if (s_outgoing_send(o, b->results) != 0)
            return;
        s_outgoing_free(o);
        b->out_head = (b->out_head + 1) % b->out_cap;
        b->out_len--;
    }
}

/* Hands this turn's bundle to ZeroMQ, or queues it behind the ones waiting. */
static void s_aggregator_flush(broker_t *b)
{
    outgoing_t *o = &b->to_aggregator;
    if (!o->n)
        return;
    if (b->out_len == 0 && s_outgoing_send(o, b->results) == 0)
        return;
    if (b->out_len == b->out_cap) {
        size_t cap = b->out_cap ? b->out_cap * 2 : 1024;
        outgoing_t *grown = malloc(cap * sizeof *grown);
        if (!grown) {
            rtp_error("out of memory queueing for the aggregator");
            abort();
        }
        for (size_t i = 0; i < b->out_len; i++)
            grown[i] = b->outbox[(b->out_head + i) % b->out_cap];
        free(b->outbox);
        b->outbox = grown;
        b->out_head = 0;
        b->out_cap = cap;
    }
    b->outbox[(b->out_head + b->out_len) % b->out_cap] = *o;
    b->out_len++;
    memset(o, 0, sizeof *o);
}

/* Encodes the n messages (not taken) into this turn's bundle: they reach the
 * aggregator together, with whatever else completes in this turn of the loop (up to
 * RTP_BUNDLE_MAX messages: one ZeroMQ message for many events instead of one each). */
static void s_to_aggregator(broker_t *b, const rtp_msg_t *const *msgs, size_t n)
{
    if (b->to_aggregator.n + n > RTP_BUNDLE_MAX)
        s_aggregator_flush(b);
    for (size_t i = 0; i < n; i++)
        s_outgoing_add(&b->to_aggregator, msgs[i]);
}

/* A message of `type` whose strings are views of others' (cast, never written nor
 * freed): encoded at once, never destroyed. */
static rtp_msg_t s_view(rtp_msg_type_t type)
{
    rtp_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = type;
    return m;
}

static void s_dead_letter(broker_t *b, event_t *e, const char *origin, uint64_t seq, int64_t received_us,
                          const char *reason, const char *raw, size_t raw_len)
{
    b->n.dead_letters++;
    rtp_msg_t m = s_view(RTP_MSG_DEADLETTER);
    m.key = e ? e->key : 0;
    m.seq = seq;
    m.received_us = received_us;
    m.origin = (char *) origin;
    m.text = (char *) reason;
    m.raw = (char *) (raw ? raw : "");
    m.raw_len = raw ? raw_len : 0;
    const rtp_msg_t *one = &m;
    s_to_aggregator(b, &one, 1);
}

/* ---------- events ---------- */

/* Finished events are kept for the next ones (up to EVENT_CACHE), with their task's
 * encoding buffer: once warmed up, an event and its encoded task cost no allocation.
 * Not under AddressSanitizer, which must see every free. */
#if defined(__SANITIZE_ADDRESS__)
#define EVENT_CACHE 0
#else
#define EVENT_CACHE 1024
static event_t *s_spare_events[EVENT_CACHE];
static int s_n_spare;
#endif

static event_t *s_event_new(void)
{
#if EVENT_CACHE
    if (s_n_spare) {
        event_t *e = s_spare_events[--s_n_spare];
        rtp_encoded_t wire = e->task_wire;
        memset(e, 0, sizeof *e);
        e->task_wire = wire;
        return e;
    }
#endif
    return calloc(1, sizeof(event_t));
}

static void s_event_free(event_t *e)
{
    if (e) {
        rtp_msg_destroy(&e->task);
        for (int p = 0; p < RTP_POOL_COUNT; p++)
            free(e->part_text[p]);
#if EVENT_CACHE
        if (s_n_spare < EVENT_CACHE) {
            s_spare_events[s_n_spare++] = e;
            return;
        }
#endif
        rtp_encoded_clear(&e->task_wire);
        free(e);
    }
}

/* Frees the kept events (at exit). */
static void s_event_cache_free(void)
{
#if EVENT_CACHE
    while (s_n_spare) {
        event_t *e = s_spare_events[--s_n_spare];
        rtp_encoded_clear(&e->task_wire);
        free(e);
    }
#endif
}

static void s_release_holders(broker_t *b, event_t *e);

/* Whether a kept copy of an origin's name (truncated to ORIGIN_MAX - 1 bytes) names
 * `origin`. */
static int s_same_origin(const char kept[ORIGIN_MAX], const char *origin)
{
    return strncmp(kept, origin ? origin : "", ORIGIN_MAX - 1) == 0;
}

/* The by_seq map's key of an event: its seq mixed with its origin's name. */
static uint64_t s_seq_key(const char *origin, uint64_t seq)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (const char *c = origin ? origin : ""; *c; c++)
        h = (h ^ (uint8_t) *c) * 1099511628211ULL;
    return seq ^ h;
}

static void s_event_finish(broker_t *b, event_t *e)
{
    s_release_holders(b, e);
    if (e->seq_key)
        rtp_u64map_remove(b->by_seq, e->seq_key);
    rtp_u64map_remove(b->events, e->key);
    s_event_free(e);
}

static void s_dead_letter(broker_t *b, event_t *e, const char *origin, uint64_t seq, int64_t received_us,
                          const char *reason, const char *raw, size_t raw_len);

/* Every pool answered: the record and the results go to the aggregator together, as
 * one bundle, so that it never holds a join whose other parts still wait here (under
 * overload they would wait longer than its join timeout), and a crash of ours cannot
 * leave it half a join. */
static void s_event_complete(broker_t *b, event_t *e)
{
    if (e->task->kind == RTP_EVENT_PANIC) {
        /* a worker printed it and lived (it was told not to crash) */
        s_dead_letter(b, e, e->origin, e->seq, e->task->received_us, "panic: handled without a crash",
                      "{\"message\": panic}", 18);
        s_event_finish(b, e);
        return;
    }
    /* the record (the task's tweet) and each pool's part, encoded from the event */
    rtp_msg_t parts[RTP_POOL_COUNT + 1];
    const rtp_msg_t *bundle[RTP_POOL_COUNT + 1];
    for (int i = 0; i <= RTP_POOL_COUNT; i++) {
        rtp_msg_t *m = &parts[i];
        *m = s_view(RTP_MSG_PART);
        m->key = e->key;
        m->seq = e->seq;
        m->received_us = e->task->received_us;
        m->origin = e->origin;
        if (i == 0) {
            m->kind = RTP_PART_RECORD;
            m->tweet = e->task->tweet;
        } else {
            m->kind = (uint8_t) (i - 1);   /* RTP_PART_CENSOR.. match the pool numbers */
            m->number = e->part_number[i - 1];
            m->text = e->part_text[i - 1];
        }
        bundle[i] = m;
    }
    s_to_aggregator(b, bundle, RTP_POOL_COUNT + 1);
    s_event_finish(b, e);
}

static void s_free_each(uint64_t key, void *value, void *arg)
{
    (void) key;
    (void) arg;
    s_event_free(value);
}

static int s_holds(const event_t *e, int pool, uint32_t worker_id)
{
    for (int c = 0; c < MAX_COPIES; c++)
        if (e->holders[pool][c] == worker_id)
            return 1;
    return 0;
}

static int s_holder_count(const event_t *e, int pool)
{
    int n = 0;
    for (int c = 0; c < MAX_COPIES; c++)
        n += e->holders[pool][c] != 0;
    return n;
}

static void s_unhold(event_t *e, int pool, uint32_t worker_id)
{
    for (int c = 0; c < MAX_COPIES; c++)
        if (e->holders[pool][c] == worker_id)
            e->holders[pool][c] = 0;
}

/* ---------- workers ---------- */

static pool_worker_t *s_find_worker(broker_t *b, const rtp_peer_t *peer)
{
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        pool_worker_t *w = pool_find_peer(b->pools[p], peer);
        if (w)
            return w;
    }
    return NULL;
}

static void s_send_to_worker(broker_t *b, pool_worker_t *w, rtp_msg_t *m)
{
    if (rtp_msg_send(m, b->workers, &w->peer, ZMQ_DONTWAIT) != 0)
        rtp_debug("send %s to %s failed: %s", rtp_msg_type_name(m->type), w->name, zmq_strerror(errno));
}

typedef struct {
    broker_t *b;
    pool_worker_t *w;
    uint64_t *keys;
    size_t count, cap;
} lost_scan_t;

static void s_collect_held(uint64_t key, void *value, void *arg)
{
    lost_scan_t *scan = arg;
    event_t *e = value;
    if (!s_holds(e, scan->w->pool, scan->w->id))
        return;
    if (scan->count == scan->cap) {
        scan->cap = scan->cap ? scan->cap * 2 : 64;
        scan->keys = realloc(scan->keys, scan->cap * sizeof *scan->keys);
        if (!scan->keys)
            abort();
    }
    scan->keys[scan->count++] = key;
}

/* An event that ends before every pool answered (a dead letter) may still be held
 * by workers of other pools: cancel those copies and give the workers their
 * capacity back, since their results will be dropped as late. */
static void s_release_holders(broker_t *b, event_t *e)
{
    for (int pool = 0; pool < RTP_POOL_COUNT; pool++)
        for (int c = 0; c < MAX_COPIES; c++) {
            uint32_t id = e->holders[pool][c];
            pool_worker_t *w = id ? pool_find_id(b->pools[pool], id) : NULL;
            if (w) {
                rtp_msg_t *cancel = rtp_msg_new(RTP_MSG_CANCEL);
                cancel->key = e->key;
                s_send_to_worker(b, w, cancel);
                rtp_msg_destroy(&cancel);
                w->in_flight--;
            }
            e->holders[pool][c] = 0;
        }
}

/* When the worker holding copy c of event e's task got it (dispatch order). */
static uint64_t s_sent_at(const event_t *e, int pool, uint32_t worker_id)
{
    for (int c = 0; c < MAX_COPIES; c++)
        if (e->holders[pool][c] == worker_id)
            return e->sent_at[pool][c];
    return 0;
}

/* A worker is gone (crashed, frozen, or said goodbye): every task it held goes back
 * to the front of its pool's queue, unless another copy is still running. Workers
 * run their tasks in arrival order, so a crash happened on the oldest task it held:
 * only that one is blamed, and none when it left cleanly (blame 0: a worker stopped
 * by its supervisor, on a scale-down or a host's Ctrl-C, hands its tasks back). A
 * blamed panic did what the lab wants and becomes a dead letter; a blamed tweet
 * counts one crash, and a tweet blamed for max_crashes lost workers is poison: a dead
 * letter instead of another dead worker. A tweet is blamed once per incident:
 * b->incident for a loss of its own (++ it first), or shared by a host's workers found
 * silent together (s_silence_incident). */
static void s_worker_lost(broker_t *b, pool_worker_t *w, const char *why, uint32_t incident, int blame)
{
    int pool = w->pool;
    lost_scan_t scan = {b, w, NULL, 0, 0};
    rtp_u64map_each(b->events, s_collect_held, &scan);
    uint64_t suspect = 0, oldest = UINT64_MAX;
    for (size_t i = 0; i < scan.count; i++) {
        uint64_t at = s_sent_at(rtp_u64map_get(b->events, scan.keys[i]), pool, w->id);
        if (at < oldest) {
            oldest = at;
            suspect = scan.keys[i];
        }
    }
    rtp_warn("%s worker %s lost (%s) with %d task(s) in flight: re-dispatching", rtp_pool_name(pool), w->name, why,
             w->in_flight);
    b->n.workers_lost++;
    /* by dispatch order, newest first, so that push_front keeps their order */
    for (size_t i = 0; i < scan.count; i++)
        for (size_t j = i + 1; j < scan.count; j++) {
            event_t *ei = rtp_u64map_get(b->events, scan.keys[i]), *ej = rtp_u64map_get(b->events, scan.keys[j]);
            if (s_sent_at(ei, pool, w->id) < s_sent_at(ej, pool, w->id)) {
                uint64_t t = scan.keys[i];
                scan.keys[i] = scan.keys[j];
                scan.keys[j] = t;
            }
        }
    for (size_t i = 0; i < scan.count; i++) {
        event_t *e = rtp_u64map_get(b->events, scan.keys[i]);
        s_unhold(e, pool, w->id);
        if (e->done & (1u << pool))
            continue;
        int blamed = blame && e->key == suspect;
        /* a crash counts even when another copy of the task is still running, once
         * per incident */
        if (blamed && e->task->kind != RTP_EVENT_PANIC && e->blamed_in[pool] != incident) {
            e->crashes[pool]++;
            e->blamed_in[pool] = incident;
        }
        if (!blamed && s_holder_count(e, pool) > 0)
            continue;
        if (blamed && e->task->kind == RTP_EVENT_PANIC) {
            rtp_info("panic of %s seq %llu crashed %s worker %s (%s): a dead letter", e->origin,
                     (unsigned long long) e->seq, rtp_pool_name(pool), w->name, why);
            if (e->seq_key)
                b->recent_panics[b->next_recent_panic++ % RECENT_PANICS] = e->seq_key;
            s_dead_letter(b, e, e->origin, e->seq, e->task->received_us, PANIC_REASON, PANIC_RAW,
                          strlen(PANIC_RAW));
            s_event_finish(b, e);
            continue;
        }
        if (blamed && e->crashes[pool] >= b->cfg->max_crashes) {
            char reason[200];
            snprintf(reason, sizeof reason, "poison: tweet %s was being processed by %d lost %s workers",
                     e->task->tweet.id, e->crashes[pool], rtp_pool_name(pool));
            rtp_error("%s: sending it to the dead letters", reason);
            b->n.poison++;
            s_dead_letter(b, e, e->origin, e->seq, e->task->received_us, reason, e->task->tweet.text,
                          strlen(e->task->tweet.text));
            s_event_finish(b, e);
            continue;
        }
        if (s_holder_count(e, pool) == 0)
            pool_push_front(b->pools[pool], e->key);
    }
    free(scan.keys);
    pool_remove(b->pools[pool], w);
}

static void s_on_ready(broker_t *b, const rtp_peer_t *peer, rtp_msg_t *msg)
{
    pool_worker_t *old = s_find_worker(b, peer);
    /* A READY from a worker we know is no crash: the worker dropped its work on
     * purpose before it (it reconnected, or was told we do not know it: after a
     * host's cable is mended, one DISCONNECT goes back per message it had queued,
     * and each makes it announce itself again). A crashed process comes back with
     * a new routing id. So its tasks go back without blame. */
    if (old)
        s_worker_lost(b, old, "announced itself again", ++b->incident, 0);
    int64_t expires = rtp_mono_ms() + (int64_t) b->cfg->heartbeat_ms * b->cfg->liveness;
    pool_worker_t *w = pool_add(b->pools[msg->pool], ++b->next_worker_id, peer, msg->text, (int) msg->credit, expires);
    if (!w) {
        rtp_warn("%s pool is full (%d workers): refusing %s", rtp_pool_name(msg->pool), POOL_MAX_WORKERS, msg->text);
        return;
    }
    rtp_info("%s worker %s joined (capacity %d); pool has %d worker(s)", rtp_pool_name(msg->pool), w->name,
             w->capacity, b->pools[msg->pool]->count);
}

static void s_cancel_others(broker_t *b, event_t *e, int pool, uint32_t winner)
{
    for (int c = 0; c < MAX_COPIES; c++) {
        uint32_t id = e->holders[pool][c];
        if (!id || id == winner)
            continue;
        pool_worker_t *other = pool_find_id(b->pools[pool], id);
        if (other) {
            rtp_msg_t *cancel = rtp_msg_new(RTP_MSG_CANCEL);
            cancel->key = e->key;
            s_send_to_worker(b, other, cancel);
            rtp_msg_destroy(&cancel);
            other->in_flight--;
            b->n.cancels++;
            /* one line in five per second at most: thousands of races a second are
             * summed up in the stats line */
            int64_t now = b->now_ms;
            if (now - b->last_cancel_log_ms >= 200) {
                b->last_cancel_log_ms = now;
                pool_worker_t *won = pool_find_id(b->pools[pool], winner);
                rtp_info("cancelled tweet %s on %s: %s answered first", e->task->tweet.id, other->name,
                         won ? won->name : "?");
            }
        }
        e->holders[pool][c] = 0;
    }
}

static void s_on_result(broker_t *b, pool_worker_t *w, rtp_msg_t *msg)
{
    int pool = w->pool;
    event_t *e = rtp_u64map_get(b->events, msg->key);
    int held = e && s_holds(e, pool, w->id);
    if (held) {
        w->in_flight--;
        w->completed++;
        manager_count_service(b->manager, pool, msg->number2);
        pool_note_service(b->pools[pool], msg->number2);
    }
    if (!e || (e->done & (1u << pool))) {
        b->n.late[pool]++;   /* a copy that lost the race, or a task re-dispatched after a freeze */
        return;
    }
    /* Not held (it announced itself again since) but still wanted: accept it. */
    s_unhold(e, pool, w->id);
    if (e->copies[pool] > 1) {
        rtp_msg_t *won = rtp_msg_new(RTP_MSG_WON);
        won->key = e->key;
        s_send_to_worker(b, w, won);
        rtp_msg_destroy(&won);
        b->n.speculative_wins++;
    }
    s_cancel_others(b, e, pool, w->id);
    e->done |= (uint8_t) (1u << pool);
    b->n.results[pool]++;
    if (b->metrics)
        broker_metrics_task_done(b->metrics, pool, b->now_us - e->dispatched_us[pool]);
    e->part_number[pool] = msg->number;
    /* the censored text moves from the result into the event: no copy */
    free(e->part_text[pool]);
    e->part_text[pool] = msg->text;
    msg->text = NULL;
    if ((e->done & e->needed) == e->needed)
        s_event_complete(b, e);
}

static void s_on_worker_msg(broker_t *b, const rtp_peer_t *peer, rtp_msg_t *msg)
{
    pool_worker_t *w = s_find_worker(b, peer);
    if (msg->type == RTP_MSG_READY)
        s_on_ready(b, peer, msg);
    else if (!w) {
        /* A worker we do not know (we restarted, or declared it dead): ask it to
         * announce itself again. */
        if (msg->type != RTP_MSG_DISCONNECT) {
            rtp_msg_t *bye = rtp_msg_new(RTP_MSG_DISCONNECT);
            rtp_msg_send(bye, b->workers, peer, ZMQ_DONTWAIT);
            rtp_msg_destroy(&bye);
        }
    } else {
        w->expires_ms = b->now_ms + (int64_t) b->cfg->heartbeat_ms * b->cfg->liveness;
        if (msg->type == RTP_MSG_RESULT)
            s_on_result(b, w, msg);
        else if (msg->type == RTP_MSG_DISCONNECT && msg->kind == RTP_BYE_LEAVING)
            s_worker_lost(b, w, "disconnected", ++b->incident, 0);
        else if (msg->type == RTP_MSG_DISCONNECT)
            s_worker_lost(b, w, "disconnected, crashing", ++b->incident, 1);
        else if (msg->type != RTP_MSG_HEARTBEAT) {
            b->n.dropped_frames++;
            rtp_warn("unexpected %s from worker %s, dropped", rtp_msg_type_name(msg->type), w->name);
        }
    }
    rtp_msg_destroy(&msg);
}


/* ---------- readers ---------- */

/* Publishes this turn's HASHTAGS as one bundle. PUB: a slow subscriber loses,
 * never blocks us. */
static void s_hashtags_flush(broker_t *b)
{
    outgoing_t *o = &b->hashtags_out;
    if (o->n && s_outgoing_send(o, b->hashtags) != 0)
        o->len = o->n = 0;   /* dropped: the buffer is kept for the next */
}

static void s_publish_hashtags(broker_t *b, const rtp_tweet_t *t)
{
    if (!*t->hashtags)
        return;
    rtp_msg_t m = s_view(RTP_MSG_HASHTAGS);
    m.time_ms = rtp_wall_ms();
    m.id = t->id;
    m.text = t->hashtags;
    if (b->hashtags_out.n == RTP_BUNDLE_MAX)
        s_hashtags_flush(b);
    s_outgoing_add(&b->hashtags_out, &m);
}

static void s_on_event(broker_t *b, rtp_msg_t *msg)
{
    b->n.events_in++;
    if (msg->kind == RTP_EVENT_MALFORMED) {
        b->n.malformed_in++;
        s_dead_letter(b, NULL, msg->origin, msg->seq, msg->received_us, msg->text, msg->raw, msg->raw_len);
        return;
    }
    if (msg->kind != RTP_EVENT_TWEET && msg->kind != RTP_EVENT_PANIC) {
        b->n.dropped_frames++;
        rtp_warn("event of unknown kind %d from %s dropped", msg->kind, msg->origin);
        return;
    }
    uint64_t seq_key = s_seq_key(msg->origin, msg->seq);
    event_t *first = rtp_u64map_get(b->by_seq, seq_key);
    if (first && first->seq == msg->seq && s_same_origin(first->origin, msg->origin)) {
        b->n.resends_in_flight++;
        return;
    }
    if (msg->kind == RTP_EVENT_PANIC)
        for (size_t i = 0; i < RECENT_PANICS; i++)
            if (b->recent_panics[i] == seq_key) {
                s_dead_letter(b, NULL, msg->origin, msg->seq, msg->received_us, PANIC_REASON, PANIC_RAW,
                              strlen(PANIC_RAW));
                return;
            }
    event_t *e = s_event_new();
    if (!e)
        abort();
    e->key = ++b->next_key;
    snprintf(e->origin, sizeof e->origin, "%s", msg->origin);
    e->seq = msg->seq;
    /* (a clash of two events' keys, unlikely, only costs the dedupe); the key is kept,
     * not computed again from e->origin, which may be a truncated copy */
    if (!first && rtp_u64map_put(b->by_seq, seq_key, e) == 0)
        e->seq_key = seq_key;
    e->task = rtp_msg_new(RTP_MSG_TASK);
    e->task->key = e->key;
    e->task->kind = msg->kind;
    e->task->received_us = msg->received_us;
    /* the tweet moves from the event into the task: no copy */
    e->task->tweet = msg->tweet;
    memset(&msg->tweet, 0, sizeof msg->tweet);
    /* encoded here, while the tweet is in the cache, and once: its copies differ
     * only in the print mark and the number of copies, set when each is sent */
    if (rtp_encoded_set(&e->task_wire, e->task) != 0) {
        rtp_error("out of memory encoding a task");
        abort();
    }
    rtp_u64map_put(b->events, e->key, e);

    if (msg->kind == RTP_EVENT_PANIC) {
        /* The lab's panic goes to the printer pool, where it crashes a worker. */
        b->n.panics_in++;
        e->needed = 1u << RTP_POOL_CENSOR;
        pool_push_back(b->pools[RTP_POOL_CENSOR], e->key);
        manager_count_arrival(b->manager, RTP_POOL_CENSOR);
        return;
    }
    b->n.tweets_in++;
    e->needed = (1u << RTP_POOL_COUNT) - 1;
    s_publish_hashtags(b, &e->task->tweet);
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        pool_push_back(b->pools[p], e->key);
        manager_count_arrival(b->manager, p);
    }
}

/* Remembers that `origin`'s events come from `peer` (a restarted reader
 * reconnects with a new routing id). */
static void s_note_origin(broker_t *b, const char *origin, const rtp_peer_t *peer)
{
    for (int i = 0; i < b->n_origins; i++)
        if (s_same_origin(b->readers_by_origin[i].origin, origin)) {
            b->readers_by_origin[i].peer = *peer;
            return;
        }
    int i = b->n_origins < 64 ? b->n_origins++ : 63;
    snprintf(b->readers_by_origin[i].origin, sizeof b->readers_by_origin[i].origin, "%s", origin);
    b->readers_by_origin[i].peer = *peer;
}

/* An ACK from the batcher: pass it to the reader of that origin. */
static void s_forward_ack(broker_t *b, const rtp_msg_t *ack)
{
    for (int i = 0; i < b->n_origins; i++)
        if (s_same_origin(b->readers_by_origin[i].origin, ack->origin)) {
            if (rtp_msg_send(ack, b->readers, &b->readers_by_origin[i].peer, ZMQ_DONTWAIT) == 0)
                b->acks_forwarded++;
            return;
        }
    b->acks_unknown++;   /* a reader we never heard from (we restarted): it will resend */
}

static void s_on_reader_msg(broker_t *b, const rtp_peer_t *peer, rtp_msg_t *msg)
{
    if (msg->type == RTP_MSG_EVENT) {
        s_note_origin(b, msg->origin, peer);
        s_on_event(b, msg);
    } else if (msg->type == RTP_MSG_ACK)
        s_forward_ack(b, msg);
    else if (msg->type != RTP_MSG_HEARTBEAT) {
        b->n.dropped_frames++;
        rtp_warn("unexpected %s on the readers endpoint, dropped", rtp_msg_type_name(msg->type));
    }
    rtp_msg_destroy(&msg);
}

/* Reads one ZeroMQ message from a ROUTER endpoint (readers and workers send bundles)
 * and hands each message it carried to on_msg, which takes it. Returns how many it
 * carried: 1 for a malformed one (dropped, counted, logged), 0 when none waited. */
static size_t s_read_bundle(broker_t *b, zsock_t *sock, const char *endpoint,
                            void (*on_msg)(broker_t *b, const rtp_peer_t *peer, rtp_msg_t *msg))
{
    rtp_peer_t peer;
    rtp_err_t err;
    rtp_msg_t *bundle[RTP_BUNDLE_MAX];
    size_t n = rtp_msg_recv_bundle(sock, &peer, ZMQ_DONTWAIT, bundle, RTP_BUNDLE_MAX, &err);
    if (!n) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        b->n.dropped_frames++;
        rtp_warn("dropped a message on the %s endpoint: %s", endpoint, err.msg);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        on_msg(b, &peer, bundle[i]);
    return n;
}

/* ---------- dispatch ---------- */

/* Sends the tasks a dispatch round chose for w, as one bundle. */
static void s_flush_tasks(broker_t *b, pool_worker_t *w)
{
    const rtp_encoded_t *const *tasks = (const rtp_encoded_t *const *) w->outgoing;
    if (w->n_outgoing &&
        rtp_encoded_send_bundle(tasks, (size_t) w->n_outgoing, b->workers, &w->peer, ZMQ_DONTWAIT) != 0)
        rtp_debug("sending %d task(s) to %s failed: %s", w->n_outgoing, w->name, zmq_strerror(errno));
    w->n_outgoing = 0;
}

/* Sends queued tasks of one pool to the least-loaded workers while any has room.
 * A pool with speculative copies > 1 also sends each task to up to that many
 * distinct workers that are idle right now (speculative execution spends idle
 * capacity only); the first result wins, the others are cancelled. */
static void s_dispatch(broker_t *b, int pool)
{
    pool_t *p = b->pools[pool];
    int round = 0;
    int copies = b->cfg->speculative[pool];
    if (copies < 1)
        copies = 1;
    if (copies > MAX_COPIES)
        copies = MAX_COPIES;
    while (p->len) {
        pool_worker_t *w = pool_least_loaded(p, NULL, 0);
        if (!w)
            break;
        uint64_t key = pool_pop_front(p);
        event_t *e = rtp_u64map_get(b->events, key);
        if (!e || (e->done & (1u << pool)))
            continue;   /* finished while it waited (a dead letter) */
        /* a panic crashes one worker, not three; nor does a task that crashed one already */
        int want = e->task->kind == RTP_EVENT_PANIC || e->crashes[pool] ? 1 : copies;
        /* choose the workers first: the task tells each how many copies there are */
        pool_worker_t *chosen[MAX_COPIES];
        uint32_t held[MAX_COPIES];
        int n = 0;
        /* extra copies go only to idle workers: behind other tasks they could not win */
        while (w && n < want && (n == 0 || w->in_flight == 0)) {
            chosen[n] = w;
            held[n++] = w->id;
            /* only when another copy is wanted: each search moves the rotation that
             * breaks ties, and a search for nothing would skip a worker every time */
            w = n < want ? pool_least_loaded(p, held, n) : NULL;
        }
        e->copies[pool] = (uint8_t) n;
        e->task->copies = (uint8_t) n;
        /* marked when first sent (a re-dispatch keeps its mark), so the prints follow
         * the pool's pace, not the arrivals' */
        if (pool == RTP_POOL_CENSOR && e->task->kind == RTP_EVENT_TWEET && !e->print_marked) {
            e->task->credit = print_budget_mark(b->print, b->now_ms);
            e->print_marked = 1;
            if (e->task->credit == PRINT_NOT)
                b->n.unprinted++;
            else
                b->n.printed++;
        }
        rtp_encoded_task_mark(&e->task_wire, e->task->credit, e->task->copies);
        if (b->metrics)
            e->dispatched_us[pool] = b->now_us;
        for (int i = 0, c = 0; i < n && c < MAX_COPIES; c++) {
            if (e->holders[pool][c])
                continue;
            e->holders[pool][c] = chosen[i]->id;
            e->sent_at[pool][c] = ++b->next_dispatch;
            chosen[i]->outgoing[chosen[i]->n_outgoing++] = &e->task_wire;
            if (chosen[i]->n_outgoing == RTP_BUNDLE_MAX)
                s_flush_tasks(b, chosen[i]);
            round = 1;
            chosen[i]->in_flight++;
            chosen[i]->dispatched++;
            b->n.dispatched[pool]++;
            if (i > 0)
                b->n.speculative_copies++;
            i++;
        }
    }
    /* Least connected chose task by task; each worker gets its share in one message.
     * The tasks stay valid until here: nothing in this round finishes an event. */
    for (int i = 0; round && i < p->count; i++)
        s_flush_tasks(b, p->workers[i]);
}

/* ---------- the tick: heartbeats, expiry, stats ---------- */

/* The incident a worker found silent now belongs to: its host's, when that host's
 * last incident opened (another worker found silent) after this worker's last word,
 * so that both were silent at once; else a new one. A task redispatched after an
 * incident opened to a worker that then crashes without a word is past its last word
 * only if that word came after the opening: serial crashes stay incidents of their own. */
static uint32_t s_silence_incident(broker_t *b, const pool_worker_t *w, int64_t now)
{
    const char *slash = strchr(w->name, '/');
    int len = slash ? (int) (slash - w->name) : 0;
    int64_t last_word = w->expires_ms - (int64_t) b->cfg->heartbeat_ms * b->cfg->liveness;
    silent_host_t *slot = &b->silent[0];
    for (int i = 0; i < SILENT_HOSTS; i++) {
        silent_host_t *h = &b->silent[i];
        if (h->incident && (int) strlen(h->host) == len && strncmp(h->host, w->name, (size_t) len) == 0) {
            if (last_word <= h->opened_ms)
                return h->incident;
            slot = h;   /* the host's slot, for its new incident */
            break;
        }
        if (h->opened_ms < slot->opened_ms)
            slot = h;   /* the least recent, reused for a new host */
    }
    snprintf(slot->host, sizeof slot->host, "%.*s", len, w->name);
    slot->incident = ++b->incident;
    slot->opened_ms = now;
    return slot->incident;
}

static void s_heartbeat(broker_t *b)
{
    int64_t now = rtp_mono_ms();
    rtp_msg_t *hb = rtp_msg_new(RTP_MSG_HEARTBEAT);
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        pool_t *pool = b->pools[p];
        for (int i = 0; i < pool->count;) {
            pool_worker_t *w = pool->workers[i];
            if (now > w->expires_ms) {
                s_worker_lost(b, w, "silent past its liveness", s_silence_incident(b, w, now), 1);
                continue;   /* pool_remove moved another worker into slot i */
            }
            s_send_to_worker(b, w, hb);
            i++;
        }
    }
    rtp_msg_destroy(&hb);
}

/* The load balancer's decisions since the last stats line, a line per pool: how many
 * tasks each worker got and holds now, so that least connected can be seen at work. */
static void s_balance_lines(broker_t *b)
{
    enum { SHOWN = 12 };
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        pool_t *pool = b->pools[p];
        if (!pool->count)
            continue;
        char line[1024];
        size_t n = 0;
        for (int i = 0; i < pool->count && i < SHOWN && n < sizeof line; i++) {
            pool_worker_t *w = pool->workers[i];
            n += (size_t) snprintf(line + n, sizeof line - n, "%s%s %llu (%d in flight)", i ? ", " : "", w->name,
                                   (unsigned long long) (w->dispatched - w->dispatched_before), w->in_flight);
        }
        for (int i = 0; i < pool->count; i++)
            pool->workers[i]->dispatched_before = pool->workers[i]->dispatched;
        if (pool->count > SHOWN && n < sizeof line)
            snprintf(line + n, sizeof line - n, ", and %d more", pool->count - SHOWN);
        rtp_info("least connected, %s pool (at most %d tasks a worker now): tasks since the last line %s",
                 rtp_pool_name(p), pool_credit_limit(pool), line);
    }
}

static void s_stats(broker_t *b)
{
    char pools[512];
    size_t n = 0;
    for (int p = 0; p < RTP_POOL_COUNT; p++)
        n += (size_t) snprintf(pools + n, sizeof pools - n,
                               "%s%s: %d workers (target %d), %d in flight, %zu queued, %llu done", p ? "; " : "",
                               rtp_pool_name(p), b->pools[p]->count, manager_target(b->manager, p),
                               pool_in_flight(b->pools[p]), b->pools[p]->len, (unsigned long long) b->n.results[p]);
    rtp_info("events %llu (tweets %llu, panics %llu, malformed %llu), in flight %zu, to aggregator queued %zu | %s | "
             "lost workers %llu, poison %llu, speculative copies %llu, wins %llu, cancels %llu | acks forwarded %llu "
             "(unknown origin %llu) | resends of events in flight dropped %llu | censored tweets printed %llu, "
             "not printed %llu",
             (unsigned long long) b->n.events_in, (unsigned long long) b->n.tweets_in,
             (unsigned long long) b->n.panics_in, (unsigned long long) b->n.malformed_in,
             rtp_u64map_size(b->events), b->out_len, pools, (unsigned long long) b->n.workers_lost,
             (unsigned long long) b->n.poison, (unsigned long long) b->n.speculative_copies,
             (unsigned long long) b->n.speculative_wins, (unsigned long long) b->n.cancels,
             (unsigned long long) b->acks_forwarded, (unsigned long long) b->acks_unknown,
             (unsigned long long) b->n.resends_in_flight, (unsigned long long) b->n.printed,
             (unsigned long long) b->n.unprinted);
    s_balance_lines(b);
}

/* sndhwm, rcvhwm: the ZeroMQ messages (bundles) queued each way at most. */
static zsock_t *s_bind(int type, const char *endpoint, const char *what, int sndhwm, int rcvhwm)
{
    zsock_t *s = zsock_new(type);
    if (!s)
        return NULL;
    zsock_set_linger(s, 2000);
    zsock_set_sndhwm(s, sndhwm);
    zsock_set_rcvhwm(s, rcvhwm);
    if (type == ZMQ_ROUTER)
        zsock_set_router_mandatory(s, 0);
    rtp_err_t err;
    if (rtp_curve_server(s, &err) != 0) {
        rtp_error("%s endpoint: %s", what, err.msg);
        zsock_destroy(&s);
        return NULL;
    }
    if (zsock_bind(s, "%s", endpoint) < 0) {
        rtp_error("cannot bind the %s endpoint %s: %s", what, endpoint, zmq_strerror(errno));
        zsock_destroy(&s);
        return NULL;
    }
    rtp_info("%s endpoint: %s", what, zsock_endpoint(s) ? zsock_endpoint(s) : endpoint);
    return s;
}

int broker_run(const broker_config_t *cfg)
{
    broker_t b;
    memset(&b, 0, sizeof b);
    b.cfg = cfg;
    /* Keys are unique across broker restarts: a random high part per start. */
    b.next_key = ((uint64_t) (rtp_wall_us() ^ ((uint64_t) getpid() << 16)) & 0xffffffULL) << 40;
    /* small tables that grow with the events in flight: sized for max-events up
     * front (2 x 1 MiB) every lookup was a cache miss */
    b.events = rtp_u64map_new(1024);
    b.by_seq = rtp_u64map_new(1024);
    for (int p = 0; p < RTP_POOL_COUNT; p++)
        b.pools[p] = pool_new(p);
    b.print = print_budget_new(cfg->print_per_second, rtp_mono_ms());
    /* Small queues where events wait, so that memory stays bounded (max-events holds
     * the events in flight) and pressure reaches the readers, whose windows hold the
     * rest: up to 64 bundles of up to 32 events from each reader, 1000 bundles of
     * results for the aggregator (then our outbox fills and we stop reading). The
     * workers' pipes hold only what the credit limit lets them have; ACKs to the
     * readers and SCALEs are small and few. */
    b.readers = s_bind(ZMQ_ROUTER, cfg->readers_endpoint, "readers", 10000, 64);
    b.workers = s_bind(ZMQ_ROUTER, cfg->workers_endpoint, "workers", 100000, 100000);
    b.results = s_bind(ZMQ_PUSH, cfg->results_endpoint, "results", 1000, 1000);
    b.hashtags = s_bind(ZMQ_PUB, cfg->hashtags_endpoint, "hashtags", 10000, 1000);
    b.control = s_bind(ZMQ_ROUTER, cfg->control_endpoint, "control", 10000, 10000);
    b.manager = b.control ? manager_new(b.control, cfg->scale, cfg->managed, cfg->heartbeat_ms, cfg->liveness,
                                        cfg->scale_tick_ms)
                          : NULL;
    if (b.manager)
        manager_set_welcome(b.manager, cfg->welcome);
    int status = 0;
    if (!b.readers || !b.workers || !b.results || !b.hashtags || !b.manager || !b.print)
        status = 1;
    if (status == 0) {
        broker_view_t view = {&b.n, {b.pools[0], b.pools[1], b.pools[2]}, b.manager, b.events, &b.out_len,
                              &b.acks_forwarded, &b.acks_unknown};
        b.metrics = broker_metrics_new(cfg->metrics_port, &view);
    }
    rtp_metrics_t *metrics = broker_metrics_registry(b.metrics);

    int64_t next_tick = rtp_mono_ms() + cfg->heartbeat_ms;
    int64_t next_stats = rtp_mono_ms() + cfg->stats_ms;
    int64_t drain_until = 0;
    while (status == 0) {
        if (rtp_stop_requested() && !drain_until) {
            drain_until = rtp_mono_ms() + cfg->drain_ms;
            rtp_info("stopping: no new events; finishing %zu in flight (up to %d ms)", rtp_u64map_size(b.events),
                     cfg->drain_ms);
        }
        if (drain_until && ((rtp_u64map_size(b.events) == 0 && b.out_len == 0) || rtp_mono_ms() > drain_until))
            break;
        int take_events = !drain_until && b.out_len == 0 && rtp_u64map_size(b.events) < (size_t) cfg->max_events;
        zmq_pollitem_t items[4] = {
            {zsock_resolve(b.workers), 0, ZMQ_POLLIN, 0},
            {zsock_resolve(b.readers), 0, ZMQ_POLLIN, 0},
            {zsock_resolve(b.results), 0, ZMQ_POLLOUT, 0},
            {zsock_resolve(b.control), 0, ZMQ_POLLIN, 0},
        };
        int64_t now = rtp_mono_ms();
        int timeout = next_tick > now ? (int) (next_tick - now) : 0;
        /* poll the readers only when we can take events, the results socket only when
         * something waits for it */
        zmq_pollitem_t active[4 + RTP_METRICS_POLL_MAX];
        int n = 0;
        active[n++] = items[0];
        active[n++] = items[3];
        if (take_events)
            active[n++] = items[1];
        if (b.out_len)
            active[n++] = items[2];
        int first_metrics = n;
        n += rtp_metrics_poll_items(metrics, active + n, RTP_METRICS_POLL_MAX);
        if (zmq_poll(active, n, timeout) < 0 && errno != EINTR)
            break;
        s_read_clock(&b);
        for (int i = first_metrics; i < n; i++)
            if (active[i].revents) {
                rtp_metrics_service(metrics);
                break;
            }
        /* Non-blocking reads until a socket is empty (no poll per read: a
         * zmq_poll is a system call, a DONTWAIT read of an empty socket is not);
         * bounded bursts keep the tick on time. */
        for (int i = 0; i < 1000; i++)
            if (!s_read_bundle(&b, b.workers, "workers", s_on_worker_msg))
                break;
        for (size_t i = 0; take_events && i < 1000 && rtp_u64map_size(b.events) < (size_t) cfg->max_events;) {
            size_t got = s_read_bundle(&b, b.readers, "readers", s_on_reader_msg);
            if (!got)
                break;
            i += got;
        }
        /* supervisors' messages are few: read when the poll saw one (ZMQ_EVENTS
         * asks the socket without a system call) */
        for (int i = 0; active[1].revents && i < 100 && (zsock_events(b.control) & ZMQ_POLLIN); i++)
            manager_on_message(b.manager);
        s_read_clock(&b);
        for (int p = 0; p < RTP_POOL_COUNT; p++)
            s_dispatch(&b, p);
        s_flush_outbox(&b);
        s_aggregator_flush(&b); /* nothing of this turn waits past it */
        s_hashtags_flush(&b);
        now = b.now_ms;
        if (now >= next_tick) {
            s_heartbeat(&b);
            broker_metrics_sync_hosts(b.metrics);
            rtp_metrics_service(metrics);   /* also drops its clients past their deadline */
            next_tick = now + cfg->heartbeat_ms;
        }
        size_t backlog[RTP_POOL_COUNT];
        for (int p = 0; p < RTP_POOL_COUNT; p++)
            backlog[p] = b.pools[p]->len;
        manager_tick(b.manager, backlog);
        if (now >= next_stats) {
            s_stats(&b);
            next_stats = now + cfg->stats_ms;
        }
    }
    if (drain_until) {
        s_stats(&b);
        if (rtp_u64map_size(b.events) || b.out_len)
            rtp_warn("stopped with %zu event(s) unfinished and %zu message(s) not delivered to the aggregator",
                     rtp_u64map_size(b.events), b.out_len);
    }
    broker_metrics_destroy(&b.metrics);
    rtp_u64map_each(b.events, s_free_each, NULL);
    s_event_cache_free();
    zsock_destroy(&b.readers);
    zsock_destroy(&b.workers);
    zsock_destroy(&b.results);
    zsock_destroy(&b.hashtags);
    manager_destroy(&b.manager);
    zsock_destroy(&b.control);
    for (int p = 0; p < RTP_POOL_COUNT; p++)
        pool_destroy(&b.pools[p]);
    rtp_u64map_destroy(&b.events);
    rtp_u64map_destroy(&b.by_seq);
    print_budget_destroy(&b.print);
    for (size_t i = 0; i < b.out_len; i++)
        s_outgoing_free(&b.outbox[(b.out_head + i) % b.out_cap]);
    s_outgoing_free(&b.to_aggregator);
    s_outgoing_free(&b.hashtags_out);
    free(b.outbox);
    return status;
}
