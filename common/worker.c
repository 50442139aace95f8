#include "worker.h"

#include "curve.h"
#include "log.h"
#include "util.h"

#include <czmq.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* Tasks received but not finished, in arrival order. Bounded by the capacity the
 * broker honours, plus slack for a broker that does not (we then refuse nothing
 * but log it). */
#define QUEUE_MAX 4096
/* Results of speculative tasks sent and waiting for the broker's WON or CANCEL
 * before they are printed (or not). A full table drops its oldest entry. */
#define UNDECIDED_MAX 256
#define UNDECIDED_TTL_MS 30000

typedef struct {
    rtp_msg_t *task, *result;
    int64_t since_ms;
} undecided_t;

typedef struct {
    const rtp_worker_config_t *cfg;
    char name[64];
    zsock_t *sock;
    rtp_msg_t *queue[QUEUE_MAX];
    size_t head, count;
    rtp_msg_t *current;        /* the task whose simulated work is under way */
    rtp_msg_t *current_result;
    int64_t current_done_ms;   /* when its simulated work ends */
    int64_t current_started_us;
    int64_t last_heard_ms, next_heartbeat_ms;
    int reconnect_delay_ms;
    uint64_t rng;
    undecided_t undecided[UNDECIDED_MAX];
    size_t n_undecided;
    /* finished tasks whose results go to the broker as one bundle before we wait again */
    rtp_msg_t *finished[RTP_BUNDLE_MAX], *finished_results[RTP_BUNDLE_MAX];
    size_t n_finished;
    uint64_t done, cancelled, failed, reconnects, won, lost_races;
    int64_t next_stats_ms;
} worker_t;

static uint64_t s_next_random(uint64_t *state)
{
    /* xorshift64*: fast, good enough for simulated work and jitter */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double s_uniform(uint64_t *state) { return (double) (s_next_random(state) >> 11) / 9007199254740992.0; }

int64_t rtp_poisson(double mean, uint64_t *state)
{
    if (mean <= 0)
        return 0;
    if (mean > 50) {
        /* Normal approximation for large means (Knuth's method would loop ~mean times
         * and underflow exp(-mean)). */
        double u1 = s_uniform(state), u2 = s_uniform(state);
        double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(2 * M_PI * u2);
        double k = floor(mean + sqrt(mean) * z + 0.5);
        return k < 0 ? 0 : (int64_t) k;
    }
    double limit = exp(-mean), p = 1.0;
    int64_t k = 0;
    do {
        k++;
        p *= s_uniform(state);
    } while (p > limit);
    return k - 1;
}

void rtp_worker_config_from(rtp_worker_config_t *cfg, rtp_settings_t *s, rtp_pool_t pool)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->pool = pool;
    cfg->broker = rtp_settings_str(s, "broker");
    cfg->name = rtp_settings_str(s, "name");
    cfg->capacity = (int) rtp_settings_int(s, "capacity");
    cfg->heartbeat_ms = (int) rtp_settings_int(s, "heartbeat-ms");
    cfg->liveness = (int) rtp_settings_int(s, "liveness");
    cfg->reconnect_min_ms = (int) rtp_settings_int(s, "reconnect-min-ms");
    cfg->reconnect_max_ms = (int) rtp_settings_int(s, "reconnect-max-ms");
    cfg->work_mean_ms = rtp_settings_double(s, "work-mean-ms");
    cfg->crash_on = rtp_settings_str(s, "crash-on");
    if (cfg->capacity < 1)
        cfg->capacity = 1;
    if (cfg->heartbeat_ms < 10)
        cfg->heartbeat_ms = 10;
    if (cfg->liveness < 2)
        cfg->liveness = 2;
}

/* READY, HEARTBEAT, or a DISCONNECT that says we are leaving cleanly */
static void s_send_simple(worker_t *w, rtp_msg_type_t type)
{
    rtp_msg_t *m = rtp_msg_new(type);
    m->kind = RTP_BYE_LEAVING;
    if (type == RTP_MSG_READY) {
        m->pool = (uint8_t) w->cfg->pool;
        m->credit = (uint32_t) w->cfg->capacity;
        rtp_msg_set_str(&m->text, w->name);
    }
    if (rtp_msg_send(m, w->sock, NULL, ZMQ_DONTWAIT) != 0)
        rtp_debug("could not send %s: %s", rtp_msg_type_name(type), zmq_strerror(errno));
    rtp_msg_destroy(&m);
}

static void s_forget_undecided(worker_t *w, size_t i);

static void s_clear_work(worker_t *w)
{
    while (w->n_finished) {
        w->n_finished--;
        rtp_msg_destroy(&w->finished[w->n_finished]);
        rtp_msg_destroy(&w->finished_results[w->n_finished]);
    }
    while (w->n_undecided)
        s_forget_undecided(w, 0);
    rtp_msg_destroy(&w->current);
    rtp_msg_destroy(&w->current_result);
    while (w->count) {
        rtp_msg_destroy(&w->queue[w->head]);
        w->head = (w->head + 1) % QUEUE_MAX;
        w->count--;
    }
}

static void s_connect(worker_t *w)
{
    zsock_destroy(&w->sock);
    w->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(w->sock, 1000);
    zsock_set_sndhwm(w->sock, 100000);
    rtp_err_t err;
    if (rtp_curve_client(w->sock, &err) != 0)
        rtp_error("%s", err.msg);
    if (zsock_connect(w->sock, "%s", w->cfg->broker) != 0)
        rtp_error("cannot connect to %s", w->cfg->broker);
    /* Whatever the broker had given us is the broker's to re-dispatch now. */
    s_clear_work(w);
    s_send_simple(w, RTP_MSG_READY);
    int64_t now = rtp_mono_ms();
    w->last_heard_ms = now;
    w->next_heartbeat_ms = now + w->cfg->heartbeat_ms;
}

/* The broker has been silent too long: back off, then start a fresh connection. */
static void s_reconnect(worker_t *w, const char *why)
{
    w->reconnects++;
    int delay = w->reconnect_delay_ms;
    int jittered = delay / 2 + (int) (s_next_random(&w->rng) % (uint64_t) (delay / 2 + 1));
    rtp_warn("%s; reconnecting to %s in %d ms", why, w->cfg->broker, jittered);
    /* No linger: what this socket still holds (a READY, heartbeats) would reach the
     * broker when the network comes back, from a routing id nobody answers on: a
     * second, dead entry of this worker that gets tasks and is then lost as silent */
    zsock_set_linger(w->sock, 0);
    zsock_destroy(&w->sock);
    for (int64_t until = rtp_mono_ms() + jittered; rtp_mono_ms() < until && !rtp_stop_requested();)
        usleep(10000);
    w->reconnect_delay_ms = delay * 2 > w->cfg->reconnect_max_ms ? w->cfg->reconnect_max_ms : delay * 2;
    s_connect(w);
}

static void s_forget_undecided(worker_t *w, size_t i)
{
    rtp_msg_destroy(&w->undecided[i].task);
    rtp_msg_destroy(&w->undecided[i].result);
    w->undecided[i] = w->undecided[--w->n_undecided];
}

/* A result of a task that went to several workers is announced (printed) only
 * when the broker says it won, so the tweet is printed once whichever copy wins. */
static void s_keep_undecided(worker_t *w, rtp_msg_t *task, rtp_msg_t *result)
{
    if (w->n_undecided == UNDECIDED_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < w->n_undecided; i++)
            if (w->undecided[i].since_ms < w->undecided[oldest].since_ms)
                oldest = i;
        rtp_warn("no word from the broker on tweet %s: not printing it", w->undecided[oldest].task->tweet.id);
        s_forget_undecided(w, oldest);
    }
    undecided_t *u = &w->undecided[w->n_undecided++];
    u->task = task;
    u->result = result;
    u->since_ms = rtp_mono_ms();
}

/* The broker decided a speculative race: won (announce it) or lost (forget it). */
static int s_decide(worker_t *w, uint64_t key, int won)
{
    for (size_t i = 0; i < w->n_undecided; i++)
        if (w->undecided[i].task->key == key) {
            if (won && w->cfg->sent)
                w->cfg->sent(w->cfg->ctx, w->undecided[i].task, w->undecided[i].result);
            won ? w->won++ : w->lost_races++;
            s_forget_undecided(w, i);
            return 1;
        }
    return 0;
}

/* Sends the finished results as one bundle, then prints each (a speculative copy
 * only once the broker says it won). */
static void s_flush_results(worker_t *w)
{
    if (!w->n_finished)
        return;
    int sent = rtp_msg_send_bundle(w->finished_results, w->n_finished, w->sock, NULL, ZMQ_DONTWAIT) == 0;
    if (!sent)
        rtp_warn("could not send %zu result(s), the first of tweet %s: %s", w->n_finished, w->finished[0]->tweet.id,
                 zmq_strerror(errno));
    for (size_t i = 0; i < w->n_finished; i++) {
        rtp_msg_t *task = w->finished[i], *result = w->finished_results[i];
        if (sent && task->copies > 1)
            s_keep_undecided(w, task, result);
        else {
            if (sent && w->cfg->sent)
                w->cfg->sent(w->cfg->ctx, task, result);
            rtp_msg_destroy(&task);
            rtp_msg_destroy(&result);
        }
        w->finished[i] = w->finished_results[i] = NULL;
    }
    w->n_finished = 0;
}

/* The current task is done: its result joins the next bundle. */
static void s_finish_current(worker_t *w)
{
    /* the time spent, simulated work included: the broker's pool manager sizes pools by it */
    w->current_result->number2 = (double) (rtp_mono_us() - w->current_started_us) / 1000.0;
    w->finished[w->n_finished] = w->current;
    w->finished_results[w->n_finished++] = w->current_result;
    w->current = NULL;
    w->current_result = NULL;
    w->done++;
    if (w->n_finished == RTP_BUNDLE_MAX)
        s_flush_results(w);
}

/* Crashes on purpose. The results already sent are flushed first (closing the
 * socket and ending the ZeroMQ context waits for them, up to the linger), so the
 * broker sees them answered and blames the crash on the right task. */
static void s_crash(worker_t *w, const char *why)
{
    rtp_error("%s", why);
    s_flush_results(w);
    /* a last word: the broker takes back our other tasks now, not after the
     * heartbeats have gone silent (seconds), and blames the crash on the oldest task
     * it gave us, which is this one: the results before it were flushed above */
    rtp_msg_t *bye = rtp_msg_new(RTP_MSG_DISCONNECT);
    bye->kind = RTP_BYE_CRASHING;
    rtp_msg_send(bye, w->sock, NULL, ZMQ_DONTWAIT);
    rtp_msg_destroy(&bye);
    zsock_set_linger(w->sock, 1000);
    zsock_destroy(&w->sock);
    zsys_shutdown();   /* terminates the context: waits (up to the linger) until sent */
    abort();
}

/* Starts the next queued task: computes its result now and schedules its sending
 * after the simulated work. */
static void s_start_next(worker_t *w)
{
    while (!w->current && w->count) {
        rtp_msg_t *task = w->queue[w->head];
        w->queue[w->head] = NULL;
        w->head = (w->head + 1) % QUEUE_MAX;
        w->count--;
        /* Tasks run in arrival order, so the broker can tell which task a crash
         * happened on: the oldest one it had given us. */
        if (task->kind == RTP_EVENT_PANIC)
            s_crash(w, "received a panic message: crashing, as the lab asks");
        if (w->cfg->crash_on && *w->cfg->crash_on && strstr(task->tweet.text, w->cfg->crash_on))
            s_crash(w, "a tweet contains the --crash-on text: crashing (test hook)");
        int64_t started_us = rtp_mono_us();
        rtp_msg_t *result = rtp_msg_new(RTP_MSG_RESULT);
        result->key = task->key;
        result->pool = (uint8_t) w->cfg->pool;
        rtp_msg_set_str(&result->id, task->tweet.id);
        if (w->cfg->work(w->cfg->ctx, task, result) != 0) {
            rtp_warn("could not process tweet %s", task->tweet.id);
            w->failed++;
            rtp_msg_destroy(&task);
            rtp_msg_destroy(&result);
            continue;
        }
        w->current = task;
        w->current_result = result;
        w->current_started_us = started_us;
        w->current_done_ms = rtp_mono_ms() + rtp_poisson(w->cfg->work_mean_ms, &w->rng);
    }
}

static void s_cancel(worker_t *w, uint64_t key)
{
    if (w->current && w->current->key == key) {
        w->cancelled++;
        rtp_debug("cancelled tweet %s during its work", w->current->tweet.id);
        rtp_msg_destroy(&w->current);
        rtp_msg_destroy(&w->current_result);
        return;
    }
    for (size_t i = 0; i < w->count; i++) {
        size_t at = (w->head + i) % QUEUE_MAX;
        if (w->queue[at] && w->queue[at]->key == key) {
            w->cancelled++;
            rtp_msg_destroy(&w->queue[at]);
            /* close the gap, keeping arrival order */
            for (size_t j = i; j + 1 < w->count; j++)
                w->queue[(w->head + j) % QUEUE_MAX] = w->queue[(w->head + j + 1) % QUEUE_MAX];
            w->queue[(w->head + w->count - 1) % QUEUE_MAX] = NULL;
            w->count--;
            return;
        }
    }
}

static void s_on_message(worker_t *w, rtp_msg_t *msg)
{
    w->last_heard_ms = rtp_mono_ms();
    w->reconnect_delay_ms = w->cfg->reconnect_min_ms;
    switch (msg->type) {
    case RTP_MSG_TASK:
        if (w->count >= QUEUE_MAX) {
            rtp_error("task queue full (%d): the broker ignores our capacity; dropping task %s", QUEUE_MAX,
                      msg->tweet.id);
            break;
        }
        w->queue[(w->head + w->count) % QUEUE_MAX] = msg;
        w->count++;
        return;   /* the queue owns it now */
    case RTP_MSG_CANCEL:
        if (!s_decide(w, msg->key, 0))
            s_cancel(w, msg->key);
        break;
    case RTP_MSG_WON:
        s_decide(w, msg->key, 1);
        break;
    case RTP_MSG_DISCONNECT:
        rtp_info("the broker does not know us (restarted?): announcing ourselves again");
        s_clear_work(w);
        s_send_simple(w, RTP_MSG_READY);
        break;
    case RTP_MSG_HEARTBEAT:
        break;
    default:
        rtp_warn("unexpected %s message from the broker, dropped", rtp_msg_type_name(msg->type));
    }
    rtp_msg_destroy(&msg);
}

int rtp_worker_run(const rtp_worker_config_t *cfg)
{
    static worker_t w;   /* large (the queue): keep it off the stack */
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    if (cfg->name && *cfg->name)
        snprintf(w.name, sizeof w.name, "%s", cfg->name);
    else
        snprintf(w.name, sizeof w.name, "%s-%d", rtp_pool_name(cfg->pool), (int) getpid());
    w.rng = (uint64_t) rtp_wall_us() ^ ((uint64_t) getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    w.reconnect_delay_ms = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 100;
    rtp_info("%s worker %s connecting to %s (capacity %d, simulated work mean %g ms)", rtp_pool_name(cfg->pool),
             w.name, cfg->broker, cfg->capacity, cfg->work_mean_ms);
    s_connect(&w);
    w.next_stats_ms = rtp_mono_ms() + 10000;

    while (!rtp_stop_requested()) {
        s_start_next(&w);
        int64_t now = rtp_mono_ms();
        if (w.current && now >= w.current_done_ms) {
            s_finish_current(&w);
            continue;
        }
        s_flush_results(&w);
        int64_t wake = w.next_heartbeat_ms;
        if (w.current && w.current_done_ms < wake)
            wake = w.current_done_ms;
        int timeout = wake > now ? (int) (wake - now) : 0;
        zmq_pollitem_t item = {zsock_resolve(w.sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && (item.revents & ZMQ_POLLIN)) {
            /* take everything waiting, so a CANCEL behind a TASK is seen promptly */
            for (int i = 0; i < 1000; i++) {
                rtp_err_t err;
                rtp_msg_t *bundle[RTP_BUNDLE_MAX];
                size_t n = rtp_msg_recv_bundle(w.sock, NULL, ZMQ_DONTWAIT, bundle, RTP_BUNDLE_MAX, &err);
                if (!n) {
                    if (errno == EAGAIN || errno == EINTR)
                        break;
                    rtp_warn("dropped a message from the broker: %s", err.msg);
                    continue;
                }
                for (size_t k = 0; k < n; k++)
                    s_on_message(&w, bundle[k]);
            }
        }
        now = rtp_mono_ms();
        if (now >= w.next_heartbeat_ms) {
            s_send_simple(&w, RTP_MSG_HEARTBEAT);
            w.next_heartbeat_ms = now + cfg->heartbeat_ms;
        }
        if (now - w.last_heard_ms > (int64_t) cfg->heartbeat_ms * cfg->liveness)
            s_reconnect(&w, "the broker is silent");
        for (size_t i = 0; i < w.n_undecided;)
            if (now - w.undecided[i].since_ms > UNDECIDED_TTL_MS)
                s_forget_undecided(&w, i);   /* the broker restarted: nobody will decide */
            else
                i++;
        if (now >= w.next_stats_ms) {
            rtp_info("done %llu, cancelled %llu, speculative won %llu lost %llu, failed %llu, queued %zu, "
                     "reconnects %llu",
                     (unsigned long long) w.done, (unsigned long long) w.cancelled, (unsigned long long) w.won,
                     (unsigned long long) w.lost_races, (unsigned long long) w.failed, w.count,
                     (unsigned long long) w.reconnects);
            w.next_stats_ms = now + 10000;
        }
    }
    s_flush_results(&w);
    s_send_simple(&w, RTP_MSG_DISCONNECT);
    s_clear_work(&w);
    zsock_destroy(&w.sock);
    rtp_info("stopped: done %llu, cancelled %llu, speculative won %llu lost %llu", (unsigned long long) w.done,
             (unsigned long long) w.cancelled, (unsigned long long) w.won, (unsigned long long) w.lost_races);
    return 0;
}
