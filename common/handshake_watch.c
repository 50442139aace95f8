#include "handshake_watch.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { AUTH, PROTOCOL, NO_DETAIL, KINDS };
#define REPEAT_MS 10000
/* A failure without detail comes first when the one with detail follows (a peer
 * without keys: first the broken-off handshake, then the mismatch): it is logged
 * only when nothing more telling came within this long. */
#define NO_DETAIL_WAIT_MS 1000

struct handshake_watch_t {
    zsock_t *watched;
    zsock_t *events;
    char what[96];
    char endpoint[256];
    int failures;
    int attached; /* how many sockets were watched: each monitor gets its own address */
    int since_logged[KINDS];
    int64_t next_log_ms[KINDS];
    int64_t last_telling_ms;    /* the last AUTH or PROTOCOL failure */
    int64_t no_detail_since_ms; /* the first NO_DETAIL not logged yet, 0: none */
};

static void s_detach(handshake_watch_t *self)
{
    if (self->watched)
        zmq_socket_monitor(zsock_resolve(self->watched), NULL, 0);
    zsock_destroy(&self->events);
    self->watched = NULL;
}

int handshake_watch_attach(handshake_watch_t *self, zsock_t *sock)
{
    if (!self)
        return -1;
    s_detach(self);
    if (!sock)
        return 0;
    char address[80];
    snprintf(address, sizeof address, "inproc://rtp-handshake-%p-%d", (void *) self, ++self->attached);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(zsock_resolve(sock), address, events) != 0 ||
        !(self->events = zsock_new_pair(address))) {
        rtp_warn("cannot watch the handshakes of %s: %s", self->what, zmq_strerror(errno));
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
        return -1;
    }
    self->watched = sock;
    return 0;
}

handshake_watch_t *handshake_watch_new(zsock_t *sock, const char *what)
{
    handshake_watch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->what, sizeof self->what, "%s", what);
    if (handshake_watch_attach(self, sock) != 0) {
        free(self);
        return NULL;
    }
    return self;
}

void handshake_watch_destroy(handshake_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_detach(*self_p);
    free(*self_p);
    *self_p = NULL;
}

/* What a failure most likely means, from the event and its value (libzmq's codes). */
static const char *s_reason(int kind, uint32_t value)
{
    if (kind == AUTH)
        return value == 400 ? "the key is not authorized (CURVE, ZAP status 400)"
                            : "refused by the ZAP handler";
    if (kind == PROTOCOL)
        return value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                   ? "security mismatch: one side has CURVE keys (--curve-dir) and the other none"
                   : "the security handshake broke off (a wrong key, or not an rtp peer)";
    return "the security handshake broke off (a wrong server key, or the peer refused us)";
}

static void s_log(handshake_watch_t *self, int kind, uint32_t value, int64_t now)
{
    rtp_warn("%s (%s): a handshake failed: %s (%d time(s) since the last report)", self->what, self->endpoint,
             s_reason(kind, value), self->since_logged[kind]);
    self->since_logged[kind] = 0;
    self->next_log_ms[kind] = now + REPEAT_MS;
}

int handshake_watch_poll(handshake_watch_t *self)
{
    if (!self)
        return 0;
    int64_t now = rtp_mono_ms();
    for (int i = 0; self->events && i < 1000; i++) {
        zmsg_t *m = NULL;
        zmq_pollitem_t item = {zsock_resolve(self->events), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 0) <= 0 || !(m = zmsg_recv(self->events)))
            break;
        zframe_t *head = zmsg_first(m);
        zframe_t *where = zmsg_next(m);
        if (head && zframe_size(head) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zframe_data(head), 2);
            memcpy(&value, zframe_data(head) + 2, 4);
            int kind = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH       ? AUTH
                       : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? PROTOCOL
                                                                      : NO_DETAIL;
            if (where && zframe_size(where) < sizeof self->endpoint)
                snprintf(self->endpoint, sizeof self->endpoint, "%.*s", (int) zframe_size(where),
                         (const char *) zframe_data(where));
            self->failures++;
            self->since_logged[kind]++;
            if (kind != NO_DETAIL) {
                self->last_telling_ms = now;
                if (now >= self->next_log_ms[kind])
                    s_log(self, kind, value, now);
            } else if (!self->no_detail_since_ms)
                self->no_detail_since_ms = now;
        }
        zmsg_destroy(&m);
    }
    if (self->no_detail_since_ms && now - self->no_detail_since_ms >= NO_DETAIL_WAIT_MS) {
        if (now - self->last_telling_ms < REPEAT_MS + NO_DETAIL_WAIT_MS)
            self->since_logged[NO_DETAIL] = 0; /* told better already */
        else if (now >= self->next_log_ms[NO_DETAIL])
            s_log(self, NO_DETAIL, 0, now);
        self->no_detail_since_ms = 0;
    }
    return self->failures;
}
