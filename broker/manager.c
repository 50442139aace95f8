#include "manager.h"

#include "handshake_watch.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SUPERVISORS MANAGER_MAX_HOSTS

typedef struct {
    rtp_peer_t peer;
    char name[64];
    int capacity;
    int assigned[RTP_POOL_COUNT];   /* the targets we gave it */
    uint32_t restarts[RTP_POOL_COUNT]; /* its workers' restarts it last reported */
    int64_t expires_ms;
} supervisor_t;

typedef struct {
    int managed;
    scale_policy_t policy;
    scale_state_t state;
    uint64_t arrivals;      /* since the last decision */
    double service_sum_ms;  /* since the last decision */
    uint64_t services;
    double service_ms;      /* moving average of the ticks' means */
    double arrival_rate;    /* per second: rises at once, falls as a moving average */
    int have_service;
} pool_plan_t;

struct manager_t {
    zsock_t *control;
    supervisor_t *sups[MAX_SUPERVISORS];
    int n_sups;
    pool_plan_t plans[RTP_POOL_COUNT];
    int heartbeat_ms, liveness, tick_ms;
    uint64_t worker_restarts[RTP_POOL_COUNT]; /* reported by the supervisors, since we started */
    int64_t next_heartbeat_ms, next_decision_ms, last_decision_ms;
    const rtp_msg_t *welcome;
    manager_host_t hosts[MANAGER_MAX_HOSTS];
    int n_hosts;
    handshake_watch_t *watch;   /* logs the supervisors refused by CURVE */
};

manager_t *manager_new(zsock_t *control, const scale_policy_t policies[RTP_POOL_COUNT],
                       const int managed[RTP_POOL_COUNT], int heartbeat_ms, int liveness, int tick_ms)
{
    manager_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->control = control;
    self->heartbeat_ms = heartbeat_ms;
    self->liveness = liveness;
    self->tick_ms = tick_ms > 0 ? tick_ms : 1000;
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        self->plans[p].managed = managed[p];
        self->plans[p].policy = policies[p];
        self->plans[p].state.last_change_ms = -1000000;
    }
    self->last_decision_ms = rtp_mono_ms();
    self->next_decision_ms = self->last_decision_ms + self->tick_ms;
    self->watch = handshake_watch_new(control, "the broker's control endpoint");
    return self;
}

void manager_destroy(manager_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    handshake_watch_destroy(&(*self_p)->watch);
    for (int i = 0; i < (*self_p)->n_sups; i++)
        free((*self_p)->sups[i]);
    free(*self_p);
    *self_p = NULL;
}

void manager_set_welcome(manager_t *self, const rtp_msg_t *welcome) { self->welcome = welcome; }

/* The host of a supervisor's name, added when new (NULL when the table is full). */
static manager_host_t *s_host(manager_t *self, const char *name)
{
    for (int i = 0; i < self->n_hosts; i++)
        if (strcmp(self->hosts[i].name, name) == 0)
            return &self->hosts[i];
    if (self->n_hosts == MANAGER_MAX_HOSTS)
        return NULL;
    manager_host_t *h = &self->hosts[self->n_hosts++];
    snprintf(h->name, sizeof h->name, "%s", name);
    return h;
}

static void s_welcome(manager_t *self, const rtp_peer_t *peer)
{
    if (self->welcome)
        rtp_msg_send(self->welcome, self->control, peer, ZMQ_DONTWAIT);
}

static supervisor_t *s_find(manager_t *self, const rtp_peer_t *peer)
{
    for (int i = 0; i < self->n_sups; i++)
        if (self->sups[i]->peer.len == peer->len && !memcmp(self->sups[i]->peer.data, peer->data, peer->len))
            return self->sups[i];
    return NULL;
}

static void s_send_scale(manager_t *self, supervisor_t *s, int pool)
{
    rtp_msg_t *m = rtp_msg_new(RTP_MSG_SCALE);
    m->pool = (uint8_t) pool;
    m->credit = (uint32_t) s->assigned[pool];
    rtp_msg_send(m, self->control, &s->peer, ZMQ_DONTWAIT);
    rtp_msg_destroy(&m);
}

void manager_on_message(manager_t *self)
{
    rtp_peer_t peer;
    rtp_err_t err;
    rtp_msg_t *msg = rtp_msg_recv(self->control, &peer, ZMQ_DONTWAIT, &err);
    if (!msg) {
        if (errno != EAGAIN && errno != EINTR)
            rtp_warn("dropped a message on the control endpoint: %s", err.msg);
        return;
    }
    supervisor_t *s = s_find(self, &peer);
    if (msg->type == RTP_MSG_SUPERVISOR && !s) {
        /* A supervisor is its name: one that reconnected (a new routing id, e.g. after
         * a network split healed) replaces its old entry instead of counting twice. */
        for (int i = 0; i < self->n_sups; i++)
            if (strcmp(self->sups[i]->name, msg->text) == 0) {
                s = self->sups[i];
                s->peer = peer;
                s_welcome(self, &peer);
                for (int p = 0; p < RTP_POOL_COUNT; p++)
                    s->assigned[p] = (int) msg->counts[p];
                rtp_info("supervisor %s reconnected (running %u censor, %u sentiment, %u engagement)", s->name,
                         msg->counts[0], msg->counts[1], msg->counts[2]);
                break;
            }
    }
    if (msg->type == RTP_MSG_SUPERVISOR) {
        if (!s && self->n_sups < MAX_SUPERVISORS) {
            s = calloc(1, sizeof *s);
            if (s) {
                s->peer = peer;
                snprintf(s->name, sizeof s->name, "%s", msg->text);
                /* a supervisor that was running workers before we (re)started keeps
                 * them: they are the pools' current size */
                for (int p = 0; p < RTP_POOL_COUNT; p++) {
                    s->assigned[p] = (int) msg->counts[p];
                    s->restarts[p] = msg->restarts[p]; /* restarts from before we met are not ours */
                }
                self->sups[self->n_sups++] = s;
                s_welcome(self, &peer);
                rtp_info("supervisor %s joined (capacity %u; running %u censor, %u sentiment, %u engagement)",
                         s->name, msg->credit, msg->counts[0], msg->counts[1], msg->counts[2]);
                for (int p = 0; p < RTP_POOL_COUNT; p++)
                    if (self->plans[p].managed)
                        s_send_scale(self, s, p);
                self->next_decision_ms = rtp_mono_ms();   /* the pools' minimums at once */
            }
        }
        if (s) {
            s->capacity = (int) msg->credit;
            /* the supervisor's counts only grow, unless it is a new process of the
             * same name: then all it reports is new */
            for (int p = 0; p < RTP_POOL_COUNT; p++) {
                uint32_t now = msg->restarts[p];
                self->worker_restarts[p] += now >= s->restarts[p] ? now - s->restarts[p] : now;
                s->restarts[p] = now;
            }
            s->expires_ms = rtp_mono_ms() + (int64_t) self->heartbeat_ms * self->liveness;
            manager_host_t *h = s_host(self, s->name);
            if (h) {
                h->up = 1;
                h->capacity = s->capacity;
                for (int p = 0; p < RTP_POOL_COUNT; p++)
                    h->workers[p] = (int) msg->counts[p];
            }
        }
    } else if (msg->type == RTP_MSG_DISCONNECT && s) {
        s->expires_ms = 0;   /* forgotten at the next tick */
    } else if (msg->type != RTP_MSG_HEARTBEAT)
        rtp_warn("unexpected %s on the control endpoint, dropped", rtp_msg_type_name(msg->type));
    rtp_msg_destroy(&msg);
}

void manager_count_arrival(manager_t *self, int pool) { self->plans[pool].arrivals++; }

void manager_count_service(manager_t *self, int pool, double ms)
{
    pool_plan_t *p = &self->plans[pool];
    if (ms < 0)
        return;
    p->service_sum_ms += ms;
    p->services++;
}

static int s_total(const manager_t *self, int pool)
{
    int n = 0;
    for (int i = 0; i < self->n_sups; i++)
        n += self->sups[i]->assigned[pool];
    return n;
}

static int s_used(const supervisor_t *s)
{
    int n = 0;
    for (int p = 0; p < RTP_POOL_COUNT; p++)
        n += s->assigned[p];
    return n;
}

/* Moves a pool from `have` to `want` workers over the supervisors; returns the size
 * reached (less than wanted when the supervisors are full). */
static int s_free_slots(const manager_t *self);

/* Slots the other managed pools still need: to reach their minimums (*to_min), and
 * to have one worker at all (*to_one). A pool grows past its minimum only while the
 * others' minimums stay possible, and towards its minimum only while every other
 * pool can still get its first worker, so one pool cannot starve another. */
static void s_reserved_for_others(const manager_t *self, int pool, int *to_min, int *to_one)
{
    *to_min = *to_one = 0;
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        if (p == pool || !self->plans[p].managed)
            continue;
        int have = s_total(self, p), min = self->plans[p].policy.min;
        *to_min += have < min ? min - have : 0;
        *to_one += have == 0 && min > 0;
    }
}

static int s_spread(manager_t *self, int pool, int have, int want)
{
    int changed[MAX_SUPERVISORS] = {0};
    int to_min, to_one;
    s_reserved_for_others(self, pool, &to_min, &to_one);
    while (have < want) {
        int below_min = have < self->plans[pool].policy.min;
        if (!(have == 0 || s_free_slots(self) > (below_min ? to_one : to_min)))
            break;
        supervisor_t *best = NULL;
        int best_i = -1;
        for (int i = 0; i < self->n_sups; i++) {
            supervisor_t *s = self->sups[i];
            int room = s->capacity - s_used(s);
            if (room > 0 && (!best || room > best->capacity - s_used(best) ||
                             (room == best->capacity - s_used(best) && s->assigned[pool] < best->assigned[pool]))) {
                best = s;
                best_i = i;
            }
        }
        if (!best)
            break;
        best->assigned[pool]++;
        changed[best_i] = 1;
        have++;
    }
    while (have > want) {
        int most = -1;
        for (int i = 0; i < self->n_sups; i++)
            if (self->sups[i]->assigned[pool] > 0 && (most < 0 || self->sups[i]->assigned[pool] > self->sups[most]->assigned[pool]))
                most = i;
        if (most < 0)
            break;
        self->sups[most]->assigned[pool]--;
        changed[most] = 1;
        have--;
    }
    for (int i = 0; i < self->n_sups; i++)
        if (changed[i])
            s_send_scale(self, self->sups[i], pool);
    return have;
}

static int s_free_slots(const manager_t *self)
{
    int n = 0;
    for (int i = 0; i < self->n_sups; i++) {
        int room = self->sups[i]->capacity - s_used(self->sups[i]);
        n += room > 0 ? room : 0;
    }
    return n;
}

static void s_expire(manager_t *self, int64_t now)
{
    for (int i = 0; i < self->n_sups;) {
        supervisor_t *s = self->sups[i];
        if (now > s->expires_ms) {
            rtp_warn("supervisor %s lost (silent past its liveness, or gone): its %d censor, %d sentiment, %d "
                     "engagement workers go to the others",
                     s->name, s->assigned[0], s->assigned[1], s->assigned[2]);
            manager_host_t *h = s_host(self, s->name);
            if (h) {
                h->up = 0;
                memset(h->workers, 0, sizeof h->workers);
            }
            self->sups[i] = self->sups[--self->n_sups];
            free(s);
        } else
            i++;
    }
}

static void s_decide(manager_t *self, int64_t now)
{
    double seconds = (double) (now - self->last_decision_ms) / 1000.0;
    if (seconds < 0.25)
        return;   /* a decision brought forward (a supervisor joined): too short to measure a rate */
    self->last_decision_ms = now;
    for (int pool = 0; pool < RTP_POOL_COUNT; pool++) {
        pool_plan_t *p = &self->plans[pool];
        double rate = seconds > 0 ? (double) p->arrivals / seconds : 0;
        /* A step up in the load counts in full at the first tick that sees it (the
         * pool grows in one decision); a drop is averaged over a few ticks, so that
         * one quiet second does not shrink the pool. */
        p->arrival_rate = rate > p->arrival_rate ? rate : 0.5 * p->arrival_rate + 0.5 * rate;
        p->arrivals = 0;
        if (p->services) {
            /* the mean of this tick's tasks, smoothed over ticks: a tick's mean is
             * already an average of many tasks, unlike a per-task moving average */
            double mean = p->service_sum_ms / (double) p->services;
            p->service_ms = p->have_service ? 0.5 * p->service_ms + 0.5 * mean : mean;
            p->have_service = 1;
            p->service_sum_ms = 0;
            p->services = 0;
        }
    }
}

void manager_tick(manager_t *self, const size_t backlog[RTP_POOL_COUNT])
{
    int64_t now = rtp_mono_ms();
    handshake_watch_poll(self->watch);
    if (now >= self->next_heartbeat_ms) {
        rtp_msg_t *hb = rtp_msg_new(RTP_MSG_HEARTBEAT);
        for (int i = 0; i < self->n_sups; i++)
            rtp_msg_send(hb, self->control, &self->sups[i]->peer, ZMQ_DONTWAIT);
        rtp_msg_destroy(&hb);
        self->next_heartbeat_ms = now + self->heartbeat_ms;
    }
    s_expire(self, now);
    if (now < self->next_decision_ms)
        return;
    self->next_decision_ms = now + self->tick_ms;
    s_decide(self, now);
    if (!self->n_sups)
        return;
    for (int pool = 0; pool < RTP_POOL_COUNT; pool++) {
        pool_plan_t *p = &self->plans[pool];
        if (!p->managed)
            continue;
        scale_load_t load = {p->arrival_rate, p->have_service ? p->service_ms : 1.0, backlog[pool],
                             s_total(self, pool)};
        char why[320];
        int target = scale_decide(&p->state, &p->policy, &load, now, why, sizeof why);
        rtp_debug("%s pool: %s", rtp_pool_name(pool), why);
        if (target == load.workers)
            continue;
        int reached = s_spread(self, pool, load.workers, target);
        rtp_info("autoscale %s pool: %d -> %d workers%s (%s)", rtp_pool_name(pool), load.workers, reached,
                 reached != target ? ", the supervisors are full" : "", why);
    }
}

int manager_target(const manager_t *self, int pool)
{
    return self->plans[pool].managed ? s_total(self, pool) : -1;
}

int manager_supervisors(const manager_t *self) { return self->n_sups; }

const uint64_t *manager_worker_restarts(const manager_t *self, int pool) { return &self->worker_restarts[pool]; }

int manager_host_count(const manager_t *self) { return self->n_hosts; }

const manager_host_t *manager_host(const manager_t *self, int index)
{
    return index >= 0 && index < self->n_hosts ? &self->hosts[index] : NULL;
}
