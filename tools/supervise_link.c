#include "supervise_link.h"

#include "curve.h"
#include "handshake_watch.h"
#include "log.h"
#include "util.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PER_POOL 256

struct supervise_link_t {
    sup_t *sup;
    const char *control;
    char name[64];
    int capacity;
    worker_spec_t spec;
    int heartbeat_ms, liveness;
    zsock_t *sock;
    sup_child_t *workers[RTP_POOL_COUNT][MAX_PER_POOL];
    int count[RTP_POOL_COUNT];
    int next_number[RTP_POOL_COUNT];
    uint32_t restarts_of_stopped[RTP_POOL_COUNT]; /* restarts of workers stopped since */
    int64_t last_heard_ms, next_heartbeat_ms;
    handshake_watch_t *watch;         /* logs a refusal by the broker (CURVE) */
    supervise_link_welcome_fn learn;  /* NULL: the spec is given */
    void *learn_arg;
    int have_spec;                    /* 0 while learning and no WELCOME taken yet */
    int pending[RTP_POOL_COUNT];      /* SCALE targets held until then (-1: none) */
};

static void s_announce(supervise_link_t *self)
{
    rtp_msg_t *m = rtp_msg_new(RTP_MSG_SUPERVISOR);
    rtp_msg_set_str(&m->text, self->name);
    m->credit = (uint32_t) self->capacity;
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        m->counts[p] = (uint32_t) self->count[p];
        m->restarts[p] = self->restarts_of_stopped[p];
        for (int i = 0; i < self->count[p]; i++)
            m->restarts[p] += (uint32_t) self->workers[p][i]->restarts_total;
    }
    rtp_msg_send(m, self->sock, NULL, ZMQ_DONTWAIT);
    rtp_msg_destroy(&m);
}

static void s_connect(supervise_link_t *self)
{
    handshake_watch_attach(self->watch, NULL);
    /* a reconnect drops what the old socket holds (no linger): its hello would
     * otherwise reach the broker when the network comes back, from a routing id
     * that is closed by then, and the broker would send its orders there */
    if (self->sock)
        zsock_set_linger(self->sock, 0);
    zsock_destroy(&self->sock);
    self->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(self->sock, 500);
    rtp_err_t err;
    if (rtp_curve_client(self->sock, &err) != 0)
        rtp_error("%s", err.msg);
    if (!self->watch)
        self->watch = handshake_watch_new(self->sock, "this supervisor's link to the broker");
    else
        handshake_watch_attach(self->watch, self->sock);
    if (zsock_connect(self->sock, "%s", self->control) != 0)
        rtp_error("cannot connect to the broker's control endpoint %s", self->control);
    self->last_heard_ms = rtp_mono_ms();
    self->next_heartbeat_ms = 0;
}

supervise_link_t *supervise_link_new(sup_t *sup, const char *control_endpoint, const char *name, int capacity,
                                     const worker_spec_t *spec, int heartbeat_ms, int liveness)
{
    supervise_link_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sup = sup;
    self->control = control_endpoint;
    snprintf(self->name, sizeof self->name, "%s", name);
    self->capacity = capacity;
    self->spec = *spec;
    self->heartbeat_ms = heartbeat_ms;
    self->liveness = liveness;
    self->have_spec = 1;
    for (int p = 0; p < RTP_POOL_COUNT; p++)
        self->pending[p] = -1;
    s_connect(self);
    return self;
}

void supervise_link_destroy(supervise_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    supervise_link_t *self = *self_p;
    rtp_msg_t *bye = rtp_msg_new(RTP_MSG_DISCONNECT);
    rtp_msg_send(bye, self->sock, NULL, ZMQ_DONTWAIT);
    rtp_msg_destroy(&bye);
    handshake_watch_destroy(&self->watch);
    zsock_destroy(&self->sock);
    free(self);
    *self_p = NULL;
}

static void s_start_worker(supervise_link_t *self, int pool)
{
    const char *exe = self->spec.exe[pool];
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    int number = ++self->next_number[pool];
    char name[64], worker_name[96];
    snprintf(name, sizeof name, "%s#%d", base, number);
    snprintf(worker_name, sizeof worker_name, "%s/%s-%d", self->name, rtp_pool_name(pool), number);
    char *argv[SUP_MAX_ARGS] = {(char *) exe, "--broker", (char *) self->spec.workers_endpoint, "--name", worker_name};
    int argc = 5;
    for (int i = 0; self->spec.extra[pool] && self->spec.extra[pool][i] && argc < SUP_MAX_ARGS - 1; i++)
        argv[argc++] = self->spec.extra[pool][i];
    argv[argc] = NULL;
    sup_child_t *c = sup_start(self->sup, name, argv, NULL);
    if (c)
        self->workers[pool][self->count[pool]++] = c;
}

/* Stops the newest worker of a pool without waiting: the supervisor reaps it. */
static void s_stop_worker(supervise_link_t *self, int pool)
{
    sup_child_t *c = self->workers[pool][--self->count[pool]];
    self->workers[pool][self->count[pool]] = NULL;
    self->restarts_of_stopped[pool] += (uint32_t) c->restarts_total; /* the count goes on without it */
    sup_stop_async(self->sup, c);
}

static void s_apply(supervise_link_t *self, int pool, int target)
{
    if (target > MAX_PER_POOL)
        target = MAX_PER_POOL;
    int before = self->count[pool];
    while (self->count[pool] < target)
        s_start_worker(self, pool);
    while (self->count[pool] > target)
        s_stop_worker(self, pool);
    if (before != self->count[pool])
        rtp_info("the broker asks for %d %s worker(s): %s %d", target, rtp_pool_name(pool),
                 before < target ? "started" : "stopped", abs(target - before));
}

void supervise_link_learn(supervise_link_t *self, supervise_link_welcome_fn fn, void *arg)
{
    self->learn = fn;
    self->learn_arg = arg;
    self->have_spec = 0;
}

static void s_on_welcome(supervise_link_t *self, const rtp_msg_t *msg)
{
    if (!self->learn)
        return;   /* our spec is given: nothing to learn */
    worker_spec_t spec = self->spec;
    if (self->learn(self->learn_arg, msg, &spec) != 0)
        return;
    self->spec = spec;
    if (!self->have_spec)
        rtp_info("joined: the broker's workers endpoint is %s", self->spec.workers_endpoint);
    self->have_spec = 1;
    for (int p = 0; p < RTP_POOL_COUNT; p++)
        if (self->pending[p] >= 0) {
            s_apply(self, p, self->pending[p]);
            self->pending[p] = -1;
        }
}

void supervise_link_poll(supervise_link_t *self, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) > 0) {
        for (int i = 0; i < 100; i++) {
            rtp_err_t err;
            rtp_msg_t *msg = rtp_msg_recv(self->sock, NULL, ZMQ_DONTWAIT, &err);
            if (!msg) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                rtp_warn("dropped a message from the broker: %s", err.msg);
                continue;
            }
            self->last_heard_ms = rtp_mono_ms();
            if (msg->type == RTP_MSG_SCALE && !self->have_spec)
                self->pending[msg->pool] = (int) msg->credit;
            else if (msg->type == RTP_MSG_SCALE)
                s_apply(self, msg->pool, (int) msg->credit);
            else if (msg->type == RTP_MSG_WELCOME)
                s_on_welcome(self, msg);
            else if (msg->type != RTP_MSG_HEARTBEAT)
                rtp_warn("unexpected %s from the broker, dropped", rtp_msg_type_name(msg->type));
            rtp_msg_destroy(&msg);
        }
    }
    handshake_watch_poll(self->watch);
    int64_t now = rtp_mono_ms();
    if (now >= self->next_heartbeat_ms) {
        s_announce(self);
        self->next_heartbeat_ms = now + self->heartbeat_ms;
    }
    if (now - self->last_heard_ms > (int64_t) self->heartbeat_ms * self->liveness) {
        rtp_warn("the broker's control endpoint %s is silent: reconnecting", self->control);
        s_connect(self);
    }
}

int supervise_link_count(const supervise_link_t *self, int pool) { return self->count[pool]; }
