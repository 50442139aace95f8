/* junk_sender: sends malformed and foreign messages to a ZeroMQ endpoint, as a
 * misbehaving or unrelated peer would: junk_sender TYPE ENDPOINT
 * (TYPE: dealer, push, req). Prints how many it sent. */
#include "proto.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: junk_sender dealer|push|req ENDPOINT\n");
        return 2;
    }
    int type = !strcmp(argv[1], "push") ? ZMQ_PUSH : !strcmp(argv[1], "req") ? ZMQ_REQ : ZMQ_DEALER;
    zsock_t *s = zsock_new(type);
    zsock_set_linger(s, 2000);
    if (zsock_connect(s, "%s", argv[2]) != 0)
        return 1;
    zclock_sleep(200);
    int sent = 0;
    /* one frame, empty frames, many frames, a bad header, a wrong version, an unknown
     * type, a truncated body, a message type this endpoint never takes */
    zstr_send(s, "hello");
    sent++;
    if (type != ZMQ_REQ) {
        zstr_sendx(s, "", "", NULL);
        zstr_sendx(s, "a", "b", "c", "d", "e", NULL);
        zstr_sendx(s, "JUNK", "body", NULL);
        uint8_t hdr[4] = {'R', 'T', 99, 1};
        zmq_send(zsock_resolve(s), hdr, 4, ZMQ_SNDMORE);
        zmq_send(zsock_resolve(s), "x", 1, 0);
        uint8_t unknown[4] = {'R', 'T', RTP_PROTO_VERSION, 200};
        zmq_send(zsock_resolve(s), unknown, 4, ZMQ_SNDMORE);
        zmq_send(zsock_resolve(s), "", 0, 0);
        uint8_t event[4] = {'R', 'T', RTP_PROTO_VERSION, RTP_MSG_EVENT};
        zmq_send(zsock_resolve(s), event, 4, ZMQ_SNDMORE);
        zmq_send(zsock_resolve(s), "\0\0\0", 3, 0);
        rtp_msg_t *credit = rtp_msg_new(RTP_MSG_CREDIT);
        credit->credit = 5;
        rtp_msg_send(credit, s, NULL, 0);
        rtp_msg_destroy(&credit);
        sent += 7;
    }
    printf("sent %d\n", sent);
    zclock_sleep(300);
    zsock_destroy(&s);
    return 0;
}
