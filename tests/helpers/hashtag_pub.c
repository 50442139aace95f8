/* hashtag_pub: a stand-in for the broker's PUB side, for rtp-hashtags tests.
 *
 *   hashtag_pub [--bind ENDPOINT] [--rate N] [--subscribers N] [--align-ms A]
 *               [--offset-ms O] [--malformed-every K] [FILE]
 *
 * Binds an XPUB socket (a PUB that also sees subscriptions; default
 * tcp://127.0.0.1:*) and prints `bound ENDPOINT`, then waits (up to 30 s) until N
 * subscribers (default 1) have subscribed and prints `subscribed N`, so nothing is
 * sent into the void before the subscriber has joined.
 *
 * Then it sends FILE, if given, and after it every file whose path arrives as a line
 * on stdin, until stdin ends; then it exits. A file has one tweet a line,
 * `id<TAB>hashtags` (space-separated); each line becomes one RTP_MSG_HASHTAGS with
 * time_ms = now. Sending starts, when --align-ms is given, at the next wall-clock
 * time that is O ms past a multiple of A (so a whole file lands inside one window of
 * an aligned reporter), and goes at N messages a second (default 0: as fast as
 * possible). With --malformed-every K, a malformed message is sent before every K-th
 * line, cycling through several kinds of damage. After each file it prints
 * `sent N messages, M malformed`.
 */
#include "proto.h"
#include "util.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *bind;
    double rate;
    int subscribers;
    int64_t align_ms, offset_ms;
    int malformed_every;
} options_t;

static void s_usage(void)
{
    fprintf(stderr, "usage: hashtag_pub [--bind EP] [--rate N] [--subscribers N] [--align-ms A] "
                    "[--offset-ms O] [--malformed-every K] [FILE]\n");
    exit(2);
}

static void s_die(const char *what)
{
    fprintf(stderr, "hashtag_pub: %s: %s\n", what, zmq_strerror(errno));
    exit(1);
}

/* Waits until `want` subscriptions have arrived on the XPUB socket. */
static void s_wait_subscribers(zsock_t *pub, int want)
{
    int64_t deadline = rtp_mono_ms() + 30000;
    int seen = 0;
    while (seen < want) {
        int64_t left = deadline - rtp_mono_ms();
        if (left <= 0) {
            fprintf(stderr, "hashtag_pub: only %d of %d subscribers after 30 s\n", seen, want);
            exit(1);
        }
        zmq_pollitem_t item = {zsock_resolve(pub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long) left) > 0) {
            zframe_t *frame = zframe_recv(pub);
            if (frame && zframe_size(frame) >= 1 && zframe_data(frame)[0] == 1)
                seen++;
            zframe_destroy(&frame);
        }
    }
    printf("subscribed %d\n", seen);
    fflush(stdout);
}

static void s_send_frames(zsock_t *pub, const void *a, size_t alen, const void *b, size_t blen, int frames)
{
    void *h = zsock_resolve(pub);
    if (zmq_send(h, a, alen, frames > 1 ? ZMQ_SNDMORE : 0) < 0)
        s_die("send");
    if (frames > 1 && zmq_send(h, b, blen, frames > 2 ? ZMQ_SNDMORE : 0) < 0)
        s_die("send");
    if (frames > 2 && zmq_send(h, "x", 1, 0) < 0)
        s_die("send");
}

/* Sends one malformed (or, for rtp-hashtags, unusable) message of kind n % 7. */
static void s_send_malformed(zsock_t *pub, int n)
{
    rtp_msg_t *msg = rtp_msg_new(RTP_MSG_HASHTAGS);
    rtp_msg_set_str(&msg->id, "123");
    rtp_msg_set_str(&msg->text, "malformed");
    uint8_t hdr[4];
    uint8_t *body = NULL;
    size_t cap = 0, len = 0;
    if (rtp_msg_encode(msg, hdr, &body, &cap, &len) < 0) {
        fprintf(stderr, "hashtag_pub: encode failed\n");
        exit(1);
    }
    switch (n % 7) {
    case 0:   /* one frame of garbage */
        s_send_frames(pub, "garbage", 7, NULL, 0, 1);
        break;
    case 1: { /* a header that is not ours */
        uint8_t bad[4] = {'X', 'X', hdr[2], hdr[3]};
        s_send_frames(pub, bad, 4, body, len, 2);
        break;
    }
    case 2:   /* a body cut short */
        s_send_frames(pub, hdr, 4, body, len / 2, 2);
        break;
    case 3: { /* another protocol version */
        uint8_t bad[4] = {hdr[0], hdr[1], (uint8_t) (hdr[2] + 1), hdr[3]};
        s_send_frames(pub, bad, 4, body, len, 2);
        break;
    }
    case 4:   /* one frame too many */
        s_send_frames(pub, hdr, 4, body, len, 3);
        break;
    case 5: { /* a valid message of a type rtp-hashtags does not take */
        rtp_msg_t *hb = rtp_msg_new(RTP_MSG_HEARTBEAT);
        if (rtp_msg_send(hb, pub, NULL, 0) < 0)
            s_die("send");
        rtp_msg_destroy(&hb);
        break;
    }
    default:  /* a HASHTAGS without a tweet id */
        rtp_msg_set_str(&msg->id, "");
        if (rtp_msg_send(msg, pub, NULL, 0) < 0)
            s_die("send");
        break;
    }
    free(body);
    rtp_msg_destroy(&msg);
}

static void s_sleep_until_wall(int64_t when_ms)
{
    for (int64_t now = rtp_wall_ms(); now < when_ms; now = rtp_wall_ms())
        zclock_sleep((int) (when_ms - now));
}

static void s_send_file(zsock_t *pub, const char *path, const options_t *o)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hashtag_pub: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (o->align_ms > 0) {
        int64_t now = rtp_wall_ms();
        int64_t at = now - now % o->align_ms + o->offset_ms;
        if (at <= now)
            at += o->align_ms;
        s_sleep_until_wall(at);
    }
    rtp_msg_t *msg = rtp_msg_new(RTP_MSG_HASHTAGS);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long sent = 0, malformed = 0;
    int64_t start = rtp_mono_us();
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        char *tab = strchr(line, '\t');
        if (tab)
            *tab = '\0';
        if (o->malformed_every > 0 && (sent + 1) % o->malformed_every == 0)
            s_send_malformed(pub, (int) malformed++);
        if (o->rate > 0) {
            int64_t due = start + (int64_t) ((double) sent * 1e6 / o->rate);
            int64_t wait = due - rtp_mono_us();
            if (wait > 1000)
                zclock_sleep((int) (wait / 1000));
        }
        rtp_msg_set_str(&msg->id, line);
        rtp_msg_set_str(&msg->text, tab ? tab + 1 : "");
        msg->time_ms = rtp_wall_ms();
        if (rtp_msg_send(msg, pub, NULL, 0) < 0)
            s_die("send");
        sent++;
    }
    free(line);
    fclose(f);
    rtp_msg_destroy(&msg);
    printf("sent %ld messages, %ld malformed\n", sent, malformed);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    options_t o = {"tcp://127.0.0.1:*", 0, 1, 0, 0, 0};
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--bind") == 0 && has_value)
            o.bind = argv[++i];
        else if (strcmp(a, "--rate") == 0 && has_value)
            o.rate = atof(argv[++i]);
        else if (strcmp(a, "--subscribers") == 0 && has_value)
            o.subscribers = atoi(argv[++i]);
        else if (strcmp(a, "--align-ms") == 0 && has_value)
            o.align_ms = atoll(argv[++i]);
        else if (strcmp(a, "--offset-ms") == 0 && has_value)
            o.offset_ms = atoll(argv[++i]);
        else if (strcmp(a, "--malformed-every") == 0 && has_value)
            o.malformed_every = atoi(argv[++i]);
        else if (a[0] == '-' || file)
            s_usage();
        else
            file = a;
    }
    zsys_handler_set(NULL);
    zsock_t *pub = zsock_new(ZMQ_XPUB);
    if (!pub)
        s_die("socket");
    /* No high-water mark: a test counts every message, so none may be dropped here
     * (the files it sends bound the queue). */
    zsock_set_sndhwm(pub, 0);
    if (zsock_bind(pub, "%s", o.bind) < 0)
        s_die("bind");
    printf("bound %s\n", zsock_endpoint(pub));
    fflush(stdout);
    s_wait_subscribers(pub, o.subscribers);
    if (file)
        s_send_file(pub, file, &o);
    char *path = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&path, &cap, stdin)) >= 0) {
        while (n > 0 && (path[n - 1] == '\n' || path[n - 1] == '\r'))
            path[--n] = '\0';
        if (n > 0)
            s_send_file(pub, path, &o);
    }
    free(path);
    zsock_destroy(&pub);
    return 0;
}
