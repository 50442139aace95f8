/* parts_feeder: stands in for the broker's results side in tests. It binds a PUSH
 * socket, prints `bound ENDPOINT`, and sends what a JSONL script says, one directive
 * a line, in order:
 *
 *   {"type": "part", "key": K, "kind": "record"|"censor"|"sentiment"|"engagement",
 *    "seq": S, "origin": O, "received_us": R, "text": T, "number": X,
 *    "tweet": {"id", "user_id", "user_name", "screen_name", "text", "hashtags",
 *              "created_at", "lang", "retweet_of", "followers", "favorites",
 *              "retweets", "time_ms"}}                      a PART
 *   {"type": "deadletter", "key": K, "text": REASON, "raw": STR | "raw_hex": HEX,
 *    "origin": O, "seq": S, "received_us": R}               a DEADLETTER
 *   {"type": "frames", "frames": [HEX, ...]}               raw frames on the PUSH socket
 *   {"type": "dealer", "endpoint": E, "frames": [HEX, ...]} the frames from a new
 *                                                            DEALER connected to E
 *   {"type": "wait_file", "path": P, "timeout_ms": N}       wait until P exists
 *   {"type": "sleep", "ms": N}
 *
 * Integers may be JSON numbers or strings (for values past 2^53). Missing fields are
 * 0 or "". It prints `waiting for P after N messages` at a wait_file and `done N
 * messages` at the end, then waits for SIGTERM (at most --linger-ms). A send that
 * cannot go out within --send-timeout-ms (no peer, or pushed back for that long)
 * ends it with status 3.
 *
 *   parts_feeder [--bind ENDPOINT] [--linger-ms N] [--send-timeout-ms N] [--sndhwm N] FILE
 */
#include "proto.h"
#include "util.h"

#include <cJSON.h>
#include <czmq.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t s_u64(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(v))
        return strtoull(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (uint64_t) v->valuedouble;
    return 0;
}

static int64_t s_i64(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (int64_t) v->valuedouble;
    return 0;
}

static const char *s_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double s_num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

/* Decodes hex text into a new buffer (caller frees); NULL on bad hex. */
static uint8_t *s_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2)
        return NULL;
    uint8_t *out = malloc(n / 2 + 1);
    for (size_t i = 0; out && i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t) v;
    }
    *len = n / 2;
    return out;
}

static int s_kind(const char *name)
{
    static const char *names[] = {"censor", "sentiment", "engagement", "record"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return atoi(name); /* a number: lets a test send an invalid kind */
}

static rtp_msg_t *s_message(const cJSON *d)
{
    const char *type = s_str(d, "type");
    rtp_msg_t *m = rtp_msg_new(strcmp(type, "part") == 0 ? RTP_MSG_PART : RTP_MSG_DEADLETTER);
    m->key = s_u64(d, "key");
    m->seq = s_u64(d, "seq");
    m->received_us = s_i64(d, "received_us");
    rtp_msg_set_str(&m->origin, s_str(d, "origin"));
    rtp_msg_set_str(&m->text, s_str(d, "text"));
    if (m->type == RTP_MSG_PART) {
        m->kind = (uint8_t) s_kind(s_str(d, "kind"));
        m->number = s_num(d, "number");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "tweet");
        if (cJSON_IsObject(t)) {
            rtp_tweet_set(&m->tweet, s_str(t, "id"), s_str(t, "user_id"), s_str(t, "user_name"),
                          s_str(t, "screen_name"), s_str(t, "text"), s_str(t, "hashtags"),
                          s_str(t, "created_at"), s_str(t, "lang"), s_str(t, "retweet_of"));
            m->tweet.followers = s_i64(t, "followers");
            m->tweet.favorites = s_i64(t, "favorites");
            m->tweet.retweets = s_i64(t, "retweets");
            m->tweet.time_ms = s_i64(t, "time_ms");
        }
    } else {
        const cJSON *hex = cJSON_GetObjectItemCaseSensitive(d, "raw_hex");
        if (cJSON_IsString(hex)) {
            size_t n = 0;
            uint8_t *raw = s_unhex(hex->valuestring, &n);
            rtp_msg_set_raw(m, raw ? raw : (uint8_t *) "", raw ? n : 0);
            free(raw);
        } else {
            const char *raw = s_str(d, "raw");
            rtp_msg_set_raw(m, raw, strlen(raw));
        }
    }
    return m;
}

/* Sends the hex frames of d as one message on sock; 0 or -1. */
static int s_send_frames(void *sock, const cJSON *d)
{
    const cJSON *frames = cJSON_GetObjectItemCaseSensitive(d, "frames");
    int n = cJSON_GetArraySize(frames);
    for (int i = 0; i < n; i++) {
        const cJSON *f = cJSON_GetArrayItem(frames, i);
        size_t len = 0;
        uint8_t *bytes = cJSON_IsString(f) ? s_unhex(f->valuestring, &len) : NULL;
        if (!bytes)
            return -1;
        int rc = zmq_send(zsock_resolve(sock), bytes, len, i + 1 < n ? ZMQ_SNDMORE : 0);
        free(bytes);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int s_wait_file(const char *path, int64_t timeout_ms)
{
    int64_t until = rtp_mono_ms() + timeout_ms;
    struct stat st;
    while (stat(path, &st) != 0) {
        if (rtp_stop_requested() || rtp_mono_ms() >= until)
            return -1;
        usleep(10000);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *bind = "tcp://127.0.0.1:*", *file = NULL;
    int64_t linger_ms = 300000;
    int send_timeout_ms = 60000, sndhwm = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bind") && i + 1 < argc)
            bind = argv[++i];
        else if (!strcmp(argv[i], "--linger-ms") && i + 1 < argc)
            linger_ms = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--send-timeout-ms") && i + 1 < argc)
            send_timeout_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sndhwm") && i + 1 < argc)
            sndhwm = atoi(argv[++i]);
        else
            file = argv[i];
    }
    if (!file) {
        fprintf(stderr, "usage: parts_feeder [--bind ENDPOINT] [--linger-ms N] [--send-timeout-ms N] FILE\n");
        return 2;
    }
    rtp_signals_install();
    setvbuf(stdout, NULL, _IOLBF, 0);
    FILE *in = fopen(file, "r");
    if (!in) {
        fprintf(stderr, "parts_feeder: %s: %s\n", file, strerror(errno));
        return 2;
    }
    zsock_t *push = zsock_new(ZMQ_PUSH);
    zsock_set_sndhwm(push, sndhwm);
    zsock_set_sndtimeo(push, send_timeout_ms);
    zsock_set_linger(push, 5000);
    if (zsock_bind(push, "%s", bind) < 0) {
        fprintf(stderr, "parts_feeder: cannot bind %s\n", bind);
        return 2;
    }
    char *endpoint = zsock_last_endpoint(push);
    printf("bound %s\n", endpoint);
    free(endpoint);

    char *line = NULL;
    size_t cap = 0;
    uint64_t sent = 0;
    int status = 0;
    while (!status && getline(&line, &cap, in) > 0) {
        cJSON *d = cJSON_Parse(line);
        if (!d)
            continue;
        const char *type = s_str(d, "type");
        if (!strcmp(type, "part") || !strcmp(type, "deadletter")) {
            rtp_msg_t *m = s_message(d);
            if (rtp_msg_send(m, push, NULL, 0) != 0) {
                fprintf(stderr, "parts_feeder: send %s: %s\n", type, zmq_strerror(errno));
                status = 3;
            }
            rtp_msg_destroy(&m);
            sent++;
        } else if (!strcmp(type, "frames")) {
            if (s_send_frames(push, d) != 0)
                status = 3;
            sent++;
        } else if (!strcmp(type, "dealer")) {
            zsock_t *dealer = zsock_new(ZMQ_DEALER);
            zsock_set_linger(dealer, 2000);
            zsock_set_sndtimeo(dealer, send_timeout_ms);
            if (zsock_connect(dealer, "%s", s_str(d, "endpoint")) != 0 || s_send_frames(dealer, d) != 0)
                status = 3;
            zsock_destroy(&dealer); /* lingers until the frames are out */
        } else if (!strcmp(type, "wait_file")) {
            printf("waiting for %s after %" PRIu64 " messages\n", s_str(d, "path"), sent);
            int64_t timeout = s_i64(d, "timeout_ms");
            if (s_wait_file(s_str(d, "path"), timeout > 0 ? timeout : 60000) != 0) {
                fprintf(stderr, "parts_feeder: %s did not appear\n", s_str(d, "path"));
                status = 3;
            }
        } else if (!strcmp(type, "sleep"))
            usleep((useconds_t) s_i64(d, "ms") * 1000);
        cJSON_Delete(d);
    }
    free(line);
    fclose(in);
    if (!status) {
        printf("done %" PRIu64 " messages\n", sent);
        for (int64_t until = rtp_mono_ms() + linger_ms; !rtp_stop_requested() && rtp_mono_ms() < until;)
            usleep(20000);
    }
    zsock_destroy(&push);
    return status;
}
