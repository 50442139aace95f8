/* event_sink: a test stand-in for the broker's reader-facing socket.
 *
 *   event_sink ENDPOINT [IDLE_MS [ACKS [ACK_EVERY_MS]]]
 *
 * Binds a ROUTER on ENDPOINT (e.g. tcp://127.0.0.1:*), prints `bound <endpoint>`
 * as its first line, then one line per EVENT received:
 *
 *   <origin> <seq> <kind> <id>         kind: tweet, panic or malformed;
 *                                      malformed prints its reason instead of the id
 *
 * ACKS says what it acknowledges, the way the batcher does once records are
 * persisted: with ACK(origin, seqs) sent back through the ROUTER to the reader
 * that sent them, batched every 50 ms:
 *
 *   none           nothing (the default)
 *   all            every EVENT, each time it arrives
 *   drop-first:N   every EVENT, except the first arrival of a seq divisible by N
 *                  (so the reader must resend it)
 *
 * Stdout is flushed after every batch, so a test can follow it live. Other message
 * types and malformed messages are noted on stderr, and the counts at exit. Exits 0
 * on SIGINT/SIGTERM or after IDLE_MS (default 10000) without a message; 1 if it
 * cannot bind, 2 on bad arguments.
 */
#include "proto.h"
#include "u64map.h"
#include "util.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes s with control bytes (newlines included) made spaces, so one EVENT stays one line. */
static void s_print_clean(const char *s)
{
    for (; s && *s; s++)
        putchar((unsigned char) *s < 0x20 || *s == 0x7f ? ' ' : *s);
}

static void s_print_event(const rtp_msg_t *msg)
{
    const char *kind = msg->kind == RTP_EVENT_TWEET       ? "tweet"
                       : msg->kind == RTP_EVENT_PANIC     ? "panic"
                       : msg->kind == RTP_EVENT_MALFORMED ? "malformed"
                                                          : "unknown-kind";
    s_print_clean(msg->origin && *msg->origin ? msg->origin : "-");
    printf(" %llu %s ", (unsigned long long) msg->seq, kind);
    if (msg->kind == RTP_EVENT_MALFORMED)
        s_print_clean(msg->text && *msg->text ? msg->text : "-");
    else
        s_print_clean(msg->tweet.id && *msg->tweet.id ? msg->tweet.id : "-");
    putchar('\n');
}

#define ACK_EVERY_MS 50
#define ACK_PEERS 16 /* readers acknowledged at once; more flush early */

/* The seqs to acknowledge to one reader (routing id) for one origin. */
typedef struct {
    rtp_peer_t peer;
    char *origin;
    uint64_t *seqs;
    uint32_t count, cap;
} acks_t;

typedef struct {
    acks_t to[ACK_PEERS];
    int peers;
    uint64_t sent_seqs, sent_msgs, send_failures;
} ack_batch_t;

/* Sends the collected ACKs and empties the batch. */
static void s_acks_flush(ack_batch_t *batch, zsock_t *sock)
{
    for (int i = 0; i < batch->peers; i++) {
        acks_t *a = &batch->to[i];
        rtp_msg_t *msg = rtp_msg_new(RTP_MSG_ACK);
        if (msg && rtp_msg_set_str(&msg->origin, a->origin) == 0 &&
            rtp_msg_set_acks(msg, a->seqs, a->count) == 0 &&
            rtp_msg_send(msg, sock, &a->peer, ZMQ_DONTWAIT) == 0) {
            batch->sent_seqs += a->count;
            batch->sent_msgs++;
        } else {
            batch->send_failures++;
            fprintf(stderr, "event_sink: cannot send an ACK of %u seqs: %s\n", a->count, zmq_strerror(errno));
        }
        rtp_msg_destroy(&msg);
        free(a->origin);
        free(a->seqs);
    }
    batch->peers = 0;
}

/* Adds seq (of origin, from peer) to the batch. */
static void s_acks_add(ack_batch_t *batch, zsock_t *sock, const rtp_peer_t *peer, const char *origin,
                       uint64_t seq)
{
    acks_t *a = NULL;
    for (int i = 0; i < batch->peers && !a; i++)
        if (batch->to[i].peer.len == peer->len &&
            memcmp(batch->to[i].peer.data, peer->data, peer->len) == 0 &&
            strcmp(batch->to[i].origin, origin) == 0)
            a = &batch->to[i];
    if (!a) {
        if (batch->peers == ACK_PEERS)
            s_acks_flush(batch, sock);
        a = &batch->to[batch->peers++];
        memset(a, 0, sizeof *a);
        a->peer = *peer;
        a->origin = strdup(origin);
    }
    if (a->count == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->seqs = realloc(a->seqs, a->cap * sizeof *a->seqs);
    }
    if (!a->origin || !a->seqs) {
        fprintf(stderr, "event_sink: out of memory\n");
        exit(1);
    }
    a->seqs[a->count++] = seq;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: event_sink ENDPOINT [IDLE_MS [none|all|drop-first:N [ACK_EVERY_MS]]]\n");
        return 2;
    }
    int64_t idle_ms = argc >= 3 ? strtoll(argv[2], NULL, 10) : 10000;
    const char *mode = argc >= 4 ? argv[3] : "none";
    /* how long acknowledgements are gathered before they are sent */
    int64_t ack_every_ms = argc == 5 ? strtoll(argv[4], NULL, 10) : ACK_EVERY_MS;
    int ack = strcmp(mode, "none") != 0;
    unsigned long long drop_every = 0;
    if (strncmp(mode, "drop-first:", 11) == 0)
        drop_every = strtoull(mode + 11, NULL, 10);
    if (ack && strcmp(mode, "all") != 0 && drop_every == 0) {
        fprintf(stderr, "event_sink: ACKS must be none, all or drop-first:N (N > 0), not %s\n", mode);
        return 2;
    }
    rtp_signals_install();
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    if (!sock || zsock_bind(sock, "%s", argv[1]) < 0) {
        fprintf(stderr, "event_sink: cannot bind %s: %s\n", argv[1], zmq_strerror(errno));
        zsock_destroy(&sock);
        return 1;
    }
    zsock_set_linger(sock, 0);
    printf("bound %s\n", zsock_endpoint(sock));
    fflush(stdout);

    uint64_t events = 0, others = 0, bad = 0, withheld = 0;
    ack_batch_t batch = {0};
    rtp_u64map_t *dropped = rtp_u64map_new(64); /* seqs whose first ACK was withheld */
    int64_t last = rtp_mono_ms(), next_ack = last + ack_every_ms;
    while (!rtp_stop_requested() && rtp_mono_ms() - last < idle_ms) {
        if (batch.peers > 0 && rtp_mono_ms() >= next_ack)
            s_acks_flush(&batch, sock);
        if (batch.peers == 0)
            next_ack = rtp_mono_ms() + ack_every_ms;
        int64_t wait = batch.peers > 0 ? next_ack - rtp_mono_ms() : 100;
        zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait > 0 ? (long) wait : 0) <= 0)
            continue;
        for (;;) {
            rtp_peer_t peer;
            rtp_err_t err = {{0}};
            rtp_msg_t *bundle[RTP_BUNDLE_MAX];
            /* readers send their events in bundles */
            size_t n = rtp_msg_recv_bundle(sock, &peer, ZMQ_DONTWAIT, bundle, RTP_BUNDLE_MAX, &err);
            if (!n) {
                if (strncmp(err.msg, "receive:", 8) == 0)
                    break;
                bad++;
                fprintf(stderr, "event_sink: bad message: %s\n", err.msg);
                continue;
            }
            last = rtp_mono_ms();
            for (size_t i = 0; i < n; i++) {
                rtp_msg_t *msg = bundle[i];
                if (msg->type == RTP_MSG_EVENT) {
                    events++;
                    s_print_event(msg);
                    if (drop_every && msg->seq % drop_every == 0 && !rtp_u64map_get(dropped, msg->seq)) {
                        rtp_u64map_put(dropped, msg->seq, dropped);
                        withheld++;
                    } else if (ack)
                        s_acks_add(&batch, sock, &peer, msg->origin ? msg->origin : "", msg->seq);
                } else {
                    others++;
                    fprintf(stderr, "event_sink: ignored a %s message\n", rtp_msg_type_name(msg->type));
                }
                rtp_msg_destroy(&msg);
            }
        }
        fflush(stdout);
    }
    fflush(stdout);
    s_acks_flush(&batch, sock);
    fprintf(stderr,
            "event_sink: %llu events, %llu other messages, %llu bad messages; acks: %llu seqs in %llu ACK "
            "messages, %llu withheld, %llu failed sends\n",
            (unsigned long long) events, (unsigned long long) others, (unsigned long long) bad,
            (unsigned long long) batch.sent_seqs, (unsigned long long) batch.sent_msgs,
            (unsigned long long) withheld, (unsigned long long) batch.send_failures);
    rtp_u64map_destroy(&dropped);
    zsock_destroy(&sock);
    return 0;
}
