/* event_sink: a test stand-in for the broker's reader-facing socket.
 *
 *   event_sink ENDPOINT [IDLE_MS]
 *
 * Binds a ROUTER on ENDPOINT (e.g. tcp://127.0.0.1:*), prints `bound <endpoint>`
 * as its first line, then one line per EVENT received:
 *
 *   <origin> <seq> <kind> <id>         kind: tweet, panic or malformed;
 *                                      malformed prints its reason instead of the id
 *
 * Stdout is flushed after every batch, so a test can follow it live. Other message
 * types and malformed messages are noted on stderr. Exits 0 on SIGINT/SIGTERM or
 * after IDLE_MS (default 10000) without a message; 1 if it cannot bind.
 */
#include "proto.h"
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

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: event_sink ENDPOINT [IDLE_MS]\n");
        return 2;
    }
    int64_t idle_ms = argc == 3 ? strtoll(argv[2], NULL, 10) : 10000;
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

    uint64_t events = 0, others = 0, bad = 0;
    int64_t last = rtp_mono_ms();
    while (!rtp_stop_requested() && rtp_mono_ms() - last < idle_ms) {
        zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        for (;;) {
            rtp_peer_t peer;
            rtp_err_t err = {{0}};
            rtp_msg_t *msg = rtp_msg_recv(sock, &peer, ZMQ_DONTWAIT, &err);
            if (!msg) {
                if (strncmp(err.msg, "receive:", 8) == 0)
                    break;
                bad++;
                fprintf(stderr, "event_sink: bad message: %s\n", err.msg);
                continue;
            }
            last = rtp_mono_ms();
            if (msg->type == RTP_MSG_EVENT) {
                events++;
                s_print_event(msg);
            } else {
                others++;
                fprintf(stderr, "event_sink: ignored a %s message\n", rtp_msg_type_name(msg->type));
            }
            rtp_msg_destroy(&msg);
        }
        fflush(stdout);
    }
    fflush(stdout);
    fprintf(stderr, "event_sink: %llu events, %llu other messages, %llu bad messages\n",
            (unsigned long long) events, (unsigned long long) others, (unsigned long long) bad);
    zsock_destroy(&sock);
    return 0;
}
