/* proto: every message type round-trips field for field; every malformed input is
 * rejected with a reason, never a crash; a real socket pair drops bad frames and
 * keeps receiving good ones. */
#include "check.h"
#include "proto.h"

#include <czmq.h>
#include <math.h>
#include <stdlib.h>

static rtp_msg_t *s_full(rtp_msg_type_t type)
{
    rtp_msg_t *m = rtp_msg_new(type);
    m->key = 0x0123456789abcdefULL;
    m->seq = 42;
    m->pool = RTP_POOL_SENTIMENT;
    m->kind = RTP_EVENT_TWEET;
    m->credit = 77;
    m->copies = 3;
    m->counts[0] = 5;
    m->counts[2] = 7;
    m->restarts[1] = 3;
    m->received_us = 1700000000123456LL;
    m->time_ms = 1700000000123LL;
    m->number = -0.1;
    m->number2 = 1.0 / 3;
    rtp_msg_set_str(&m->origin, "reader-1");
    rtp_msg_set_str(&m->id, "123");
    rtp_msg_set_str(&m->text, "caf\xc3\xa9\tline\nnext");
    rtp_msg_set_raw(m, "a\0b", 3);
    uint64_t acks[3] = {1, 2, 0xffffffffffffffffULL};
    rtp_msg_set_acks(m, acks, 3);
    rtp_tweet_set(&m->tweet, "123", "9", "Ann", "ann", "hello world", "a b", "Wed Aug 27 13:08:45 +0000 2008",
                  "en", "100");
    m->tweet.followers = 10;
    m->tweet.favorites = 3;
    m->tweet.retweets = 4;
    m->tweet.time_ms = 1219842525000LL;
    return m;
}

static rtp_msg_t *s_roundtrip(const rtp_msg_t *m, size_t *len_out)
{
    uint8_t hdr[4], *buf = NULL;
    size_t cap = 0, len = 0;
    CHECK_INT(rtp_msg_encode(m, hdr, &buf, &cap, &len), 0);
    rtp_err_t err = {{0}};
    rtp_msg_t *back = rtp_msg_decode(hdr, 4, buf, len, &err);
    if (!back)
        fprintf(stderr, "decode failed: %s\n", err.msg);
    /* every strict prefix of the body is rejected, as is one trailing byte */
    for (size_t cut = 0; cut < len; cut++) {
        rtp_msg_t *bad = rtp_msg_decode(hdr, 4, buf, cut, &err);
        CHECK(bad == NULL);
        rtp_msg_destroy(&bad);
    }
    buf = realloc(buf, len + 1);
    buf[len] = 0;
    rtp_msg_t *bad = rtp_msg_decode(hdr, 4, buf, len + 1, &err);
    CHECK(bad == NULL);
    free(buf);
    *len_out = len;
    return back;
}

static void test_roundtrip_all_types(void)
{
    for (int type = RTP_MSG_EVENT; type < RTP_MSG_TYPE_COUNT_; type++) {
        rtp_msg_t *m = s_full((rtp_msg_type_t) type);
        size_t len;
        rtp_msg_t *b = s_roundtrip(m, &len);
        CHECK(b != NULL);
        if (!b) {
            rtp_msg_destroy(&m);
            continue;
        }
        CHECK_INT(b->type, type);
        switch (type) {
        case RTP_MSG_EVENT:
            CHECK_INT(b->seq, 42);
            CHECK_INT(b->kind, RTP_EVENT_TWEET);
            CHECK_INT(b->received_us, 1700000000123456LL);
            CHECK_STR(b->origin, "reader-1");
            CHECK_INT(b->raw_len, 3);
            CHECK(memcmp(b->raw, "a\0b", 3) == 0);
            CHECK_STR(b->tweet.id, "123");
            CHECK_STR(b->tweet.retweet_of, "100");
            CHECK_STR(b->tweet.created_at, "Wed Aug 27 13:08:45 +0000 2008");
            CHECK_INT(b->tweet.followers, 10);
            CHECK_INT(b->tweet.favorites, 3);
            CHECK_INT(b->tweet.retweets, 4);
            CHECK_INT(b->tweet.time_ms, 1219842525000LL);
            CHECK_INT(b->key, 0);   /* not an EVENT field: not carried */
            break;
        case RTP_MSG_READY:
            CHECK_INT(b->pool, RTP_POOL_SENTIMENT);
            CHECK_INT(b->credit, 77);
            CHECK_STR(b->text, m->text);
            break;
        case RTP_MSG_TASK:
            /* a task carries what the workers read, and no more */
            CHECK_INT(b->copies, 3);
            CHECK_INT(b->credit, 77);   /* the censor pool's print mark */
            CHECK_INT(b->kind, RTP_EVENT_TWEET);
            CHECK_STR(b->tweet.id, "123");
            CHECK_STR(b->tweet.screen_name, "ann");
            CHECK_STR(b->tweet.text, "hello world");
            CHECK_INT(b->tweet.followers, 10);
            CHECK_INT(b->tweet.favorites, 3);
            CHECK_INT(b->tweet.retweets, 4);
            CHECK_STR(b->tweet.user_name, "");
            CHECK_STR(b->tweet.hashtags, "");
            CHECK_STR(b->tweet.created_at, "");
            CHECK_STR(b->tweet.retweet_of, "");
            CHECK_INT(b->tweet.time_ms, 0);
            break;
        case RTP_MSG_SUPERVISOR:
            CHECK_INT(b->credit, 77);
            CHECK(b->counts[0] == 5 && b->counts[1] == 0 && b->counts[2] == 7);
            CHECK(b->restarts[0] == 0 && b->restarts[1] == 3 && b->restarts[2] == 0);
            break;
        case RTP_MSG_SCALE:
            CHECK_INT(b->pool, RTP_POOL_SENTIMENT);
            CHECK_INT(b->credit, 77);
            break;
        case RTP_MSG_WELCOME:
            CHECK_STR(b->text, m->text);
            CHECK_STR(b->origin, "reader-1");
            CHECK_INT(b->raw_len, 3);
            CHECK(memcmp(b->raw, "a\0b", 3) == 0);
            CHECK_INT(b->credit, 0);   /* not a WELCOME field */
            break;
        case RTP_MSG_WON:
            CHECK(b->key == 0x0123456789abcdefULL);
            CHECK_INT(b->copies, 0);
            break;
        case RTP_MSG_RESULT:
            CHECK(b->key == 0x0123456789abcdefULL);
            CHECK(b->number == -0.1);
            CHECK_STR(b->text, m->text);
            break;
        case RTP_MSG_JOINED:
            CHECK(b->number2 == 1.0 / 3);
            CHECK_STR(b->tweet.text, "hello world");
            CHECK_STR(b->tweet.hashtags, "a b");
            break;
        case RTP_MSG_ACK:
            CHECK_INT(b->ack_count, 3);
            CHECK(b->acks[2] == 0xffffffffffffffffULL);
            break;
        case RTP_MSG_HASHTAGS:
            CHECK_INT(b->time_ms, 1700000000123LL);
            CHECK_STR(b->id, "123");
            break;
        case RTP_MSG_HEARTBEAT:
            CHECK_INT(len, 0);
            break;
        }
        rtp_msg_destroy(&b);
        rtp_msg_destroy(&m);
        CHECK(m == NULL);
        rtp_msg_destroy(&m);   /* safe twice */
    }
}

static void test_malformed_headers(void)
{
    rtp_err_t err = {{0}};
    const uint8_t good[4] = {'R', 'T', RTP_PROTO_VERSION, RTP_MSG_HEARTBEAT};
    rtp_msg_t *m = rtp_msg_decode(good, 4, (const uint8_t *) "", 0, &err);
    CHECK(m != NULL);
    rtp_msg_destroy(&m);
    const uint8_t badsig[4] = {'X', 'T', RTP_PROTO_VERSION, RTP_MSG_HEARTBEAT};
    CHECK(rtp_msg_decode(badsig, 4, (const uint8_t *) "", 0, &err) == NULL);
    CHECK(strstr(err.msg, "not an rtp message") != NULL);
    const uint8_t badver[4] = {'R', 'T', 99, RTP_MSG_HEARTBEAT};
    CHECK(rtp_msg_decode(badver, 4, (const uint8_t *) "", 0, &err) == NULL);
    CHECK(strstr(err.msg, "version") != NULL);
    /* older versions: the types that have not changed since are read (a journal
     * written before an upgrade); version 2 changed TASK and SUPERVISOR, version 3 TASK */
    const struct {
        uint8_t version, type;
        int readable;
    } older[] = {{1, RTP_MSG_CREDIT, 1}, {1, RTP_MSG_TASK, 0}, {1, RTP_MSG_SUPERVISOR, 0},
                 {2, RTP_MSG_CREDIT, 1}, {2, RTP_MSG_SUPERVISOR, 1}, {2, RTP_MSG_TASK, 0}};
    const uint8_t five[4] = {0, 0, 0, 5};
    /* credit 5, text "h", three pools' counts and restarts (zeros) */
    const uint8_t supervisor[4 + 5 + 24] = {0, 0, 0, 5, 0, 0, 0, 1, 'h'};
    for (size_t i = 0; i < sizeof older / sizeof older[0]; i++) {
        const uint8_t hdr[4] = {'R', 'T', older[i].version, older[i].type};
        int is_supervisor = older[i].type == RTP_MSG_SUPERVISOR;
        m = rtp_msg_decode(hdr, 4, is_supervisor ? supervisor : five, is_supervisor ? sizeof supervisor : 4, &err);
        char want[64];
        snprintf(want, sizeof want, "protocol version %d", older[i].version);
        if (older[i].readable)
            CHECK(m != NULL && m->credit == 5);
        else
            CHECK(m == NULL && strstr(err.msg, want) != NULL);
        rtp_msg_destroy(&m);
    }
    /* WELCOME is new in version 3 */
    const uint8_t v2_welcome[4] = {'R', 'T', 2, RTP_MSG_WELCOME};
    const uint8_t empty_welcome[12] = {0};
    CHECK(rtp_msg_decode(v2_welcome, 4, empty_welcome, sizeof empty_welcome, &err) == NULL);
    CHECK(strstr(err.msg, "protocol version 2") != NULL);
    /* DISCONNECT has a kind since version 3: a version-2 one (empty) is not read */
    const uint8_t v2_bye[4] = {'R', 'T', 2, RTP_MSG_DISCONNECT};
    CHECK(rtp_msg_decode(v2_bye, 4, (const uint8_t *) "", 0, &err) == NULL);
    const uint8_t v3_bye[4] = {'R', 'T', RTP_PROTO_VERSION, RTP_MSG_DISCONNECT};
    const uint8_t crashing[1] = {RTP_BYE_CRASHING};
    m = rtp_msg_decode(v3_bye, 4, crashing, 1, &err);
    CHECK(m != NULL && m->kind == RTP_BYE_CRASHING);
    rtp_msg_destroy(&m);
    const uint8_t v3_welcome[4] = {'R', 'T', RTP_PROTO_VERSION, RTP_MSG_WELCOME};
    m = rtp_msg_decode(v3_welcome, 4, empty_welcome, sizeof empty_welcome, &err);
    CHECK(m != NULL && m->type == RTP_MSG_WELCOME && m->raw_len == 0);
    rtp_msg_destroy(&m);
    const uint8_t badtype[4] = {'R', 'T', RTP_PROTO_VERSION, 200};
    CHECK(rtp_msg_decode(badtype, 4, (const uint8_t *) "", 0, &err) == NULL);
    CHECK(strstr(err.msg, "unknown message type") != NULL);
    CHECK(rtp_msg_decode(good, 3, (const uint8_t *) "", 0, &err) == NULL);

    /* a string claiming 4 GiB, a NUL inside a string, a pool out of range */
    const uint8_t cancel_hdr[4] = {'R', 'T', RTP_PROTO_VERSION, RTP_MSG_READY};
    const uint8_t huge[] = {0, 7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'x'};
    CHECK(rtp_msg_decode(cancel_hdr, 4, huge, sizeof huge, &err) == NULL);
    const uint8_t nul[] = {0, 0, 0, 0, 1, 0, 0, 0, 2, 'a', 0};
    CHECK(rtp_msg_decode(cancel_hdr, 4, nul, sizeof nul, &err) == NULL);
    const uint8_t pool[] = {9, 0, 0, 0, 1, 0, 0, 0, 1, 'a'};
    CHECK(rtp_msg_decode(cancel_hdr, 4, pool, sizeof pool, &err) == NULL);
    CHECK(strstr(err.msg, "pool") != NULL);
    const uint8_t okready[] = {2, 0, 0, 0, 1, 0, 0, 0, 1, 'a'};
    m = rtp_msg_decode(cancel_hdr, 4, okready, sizeof okready, &err);
    CHECK(m != NULL && m->pool == RTP_POOL_ENGAGEMENT && m->credit == 1 && strcmp(m->text, "a") == 0);
    rtp_msg_destroy(&m);

    /* random bodies for every type: no crash, and anything accepted re-encodes */
    srand(7);
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t hdr[4] = {'R', 'T', RTP_PROTO_VERSION, (uint8_t) (1 + rand() % (RTP_MSG_TYPE_COUNT_ - 1))};
        uint8_t body[64];
        size_t n = (size_t) (rand() % 64);
        for (size_t j = 0; j < n; j++)
            body[j] = (uint8_t) (rand() % 4 == 0 ? rand() : 0);
        rtp_msg_t *r = rtp_msg_decode(hdr, 4, body, n, &err);
        if (r) {
            accepted++;
            uint8_t h2[4], *buf = NULL;
            size_t cap = 0, len = 0;
            CHECK_INT(rtp_msg_encode(r, h2, &buf, &cap, &len), 0);
            CHECK_INT(len, n);
            free(buf);
        }
        rtp_msg_destroy(&r);
    }
    printf("random bodies: %d of 20000 decoded (all re-encoded to the same length)\n", accepted);
}

/* A ROUTER on a free port and a DEALER connected to it, each waiting 2 s at most. */
static void s_connected_pair(zsock_t **router, zsock_t **dealer)
{
    *router = zsock_new(ZMQ_ROUTER);
    int port = zsock_bind(*router, "tcp://127.0.0.1:*");
    CHECK(port > 0);
    *dealer = zsock_new(ZMQ_DEALER);
    CHECK_INT(zsock_connect(*dealer, "tcp://127.0.0.1:%d", port), 0);
    zsock_set_rcvtimeo(*router, 2000);
    zsock_set_rcvtimeo(*dealer, 2000);
}

static void test_sockets(void)
{
    zsock_t *router, *dealer;
    s_connected_pair(&router, &dealer);

    /* foreign frames first: one frame, three frames, junk header, then a good message */
    zstr_send(dealer, "hello");
    zstr_sendm(dealer, "a");
    zstr_sendm(dealer, "b");
    zstr_send(dealer, "c");
    zstr_sendm(dealer, "JUNK");
    zstr_send(dealer, "body");
    rtp_msg_t *m = s_full(RTP_MSG_EVENT);
    CHECK_INT(rtp_msg_send(m, dealer, NULL, 0), 0);
    rtp_peer_t peer;
    rtp_err_t err = {{0}};
    int rejected = 0;
    rtp_msg_t *got = NULL;
    for (int i = 0; i < 4 && !got; i++) {
        got = rtp_msg_recv(router, &peer, 0, &err);
        if (!got) {
            rejected++;
            CHECK(err.msg[0] != 0);
        }
    }
    CHECK_INT(rejected, 3);
    CHECK(got != NULL);
    if (got) {
        CHECK_STR(got->tweet.text, "hello world");
        /* reply through the routing id */
        rtp_msg_t *ack = rtp_msg_new(RTP_MSG_ACK);
        uint64_t seqs[1] = {42};
        rtp_msg_set_acks(ack, seqs, 1);
        CHECK_INT(rtp_msg_send(ack, router, &peer, 0), 0);
        rtp_msg_t *back = rtp_msg_recv(dealer, NULL, 0, &err);
        CHECK(back && back->type == RTP_MSG_ACK && back->ack_count == 1 && back->acks[0] == 42);
        rtp_msg_destroy(&back);
        rtp_msg_destroy(&ack);
    }
    rtp_msg_destroy(&got);
    rtp_msg_destroy(&m);
    /* nothing pending: a non-blocking receive says so */
    CHECK(rtp_msg_recv(router, &peer, ZMQ_DONTWAIT, &err) == NULL);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

/* Bundles: several messages in one ZeroMQ message, received whole or rejected whole. */
static void test_bundles(void)
{
    zsock_t *router, *dealer;
    s_connected_pair(&router, &dealer);
    rtp_err_t err = {{0}};
    rtp_peer_t peer;

    rtp_msg_t *four[4];
    for (int i = 0; i < 4; i++) {
        four[i] = s_full(RTP_MSG_PART);
        four[i]->kind = (uint8_t) i;
        four[i]->key = 1000 + (uint64_t) i;
    }
    CHECK_INT(rtp_msg_send_bundle(four, 4, dealer, NULL, 0), 0);
    rtp_msg_t *got[RTP_BUNDLE_MAX];
    size_t n = rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err);
    CHECK_INT(n, 4);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(got[i]->kind, (int) i);
        CHECK(got[i]->key == 1000 + i);
        CHECK_STR(got[i]->tweet.text, "hello world");
        rtp_msg_destroy(&got[i]);
    }
    /* a plain message is a bundle of one; a bundle is refused by a plain receive */
    CHECK_INT(rtp_msg_send(four[0], dealer, NULL, 0), 0);
    n = rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err);
    CHECK_INT(n, 1);
    rtp_msg_destroy(&got[0]);
    CHECK_INT(rtp_msg_send_bundle(four, 2, dealer, NULL, 0), 0);
    CHECK(rtp_msg_recv(router, &peer, 0, &err) == NULL);
    CHECK(strstr(err.msg, "more than") != NULL);
    /* more pairs than the receiver takes: rejected whole, the next message is intact */
    CHECK_INT(rtp_msg_send_bundle(four, 4, dealer, NULL, 0), 0);
    CHECK_INT(rtp_msg_send_bundle(four, 3, dealer, NULL, 0), 0);
    CHECK_INT(rtp_msg_recv_bundle(router, &peer, 0, got, 3, &err), 0);
    n = rtp_msg_recv_bundle(router, &peer, 0, got, 3, &err);
    CHECK_INT(n, 3);
    while (n)
        rtp_msg_destroy(&got[--n]);
    /* one bad pair spoils the bundle; an odd frame count too */
    rtp_msg_t *good = four[0];
    zstr_sendm(dealer, "JUNK");
    zstr_sendm(dealer, "body");
    CHECK_INT(rtp_msg_send(good, dealer, NULL, 0), 0);   /* 2 more frames: 4 in all */
    CHECK_INT(rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err), 0);
    CHECK(err.msg[0] != 0);
    zstr_sendm(dealer, "a");
    zstr_sendm(dealer, "b");
    zstr_send(dealer, "c");
    CHECK_INT(rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err), 0);
    /* back through the routing id, as a bundle */
    CHECK_INT(rtp_msg_send_bundle(four, 4, router, &peer, 0), 0);
    n = rtp_msg_recv_bundle(dealer, NULL, 0, got, RTP_BUNDLE_MAX, &err);
    CHECK_INT(n, 4);
    while (n)
        rtp_msg_destroy(&got[--n]);
    CHECK_INT(rtp_msg_send_bundle(four, 0, dealer, NULL, 0), -1);

    /* a bundle as a run of frame pairs (the form before packing) is still read */
    for (int i = 0; i < 3; i++) {
        uint8_t hdr[4], *body = NULL;
        size_t cap = 0, len = 0;
        CHECK_INT(rtp_msg_encode(four[i], hdr, &body, &cap, &len), 0);
        zmq_send(zsock_resolve(dealer), hdr, 4, ZMQ_SNDMORE);
        zmq_send(zsock_resolve(dealer), body, len, i < 2 ? ZMQ_SNDMORE : 0);
        free(body);
    }
    n = rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err);
    CHECK_INT(n, 3);
    while (n)
        rtp_msg_destroy(&got[--n]);
    /* a packed bundle of another version is refused */
    uint8_t bad_hdr[4];
    rtp_packed_header(bad_hdr);
    bad_hdr[2] = 99;
    zmq_send(zsock_resolve(dealer), bad_hdr, 4, ZMQ_SNDMORE);
    zmq_send(zsock_resolve(dealer), "", 0, 0);
    CHECK_INT(rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err), 0);
    CHECK(strstr(err.msg, "packed") != NULL);

    for (int i = 0; i < 4; i++)
        rtp_msg_destroy(&four[i]);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

/* rtp_packed_decode: all of a packed body or nothing. */
static void test_packed_decode(void)
{
    rtp_err_t err = {{0}};
    rtp_msg_t *got[RTP_BUNDLE_MAX];
    uint8_t *pack = NULL, *body = NULL;
    size_t pack_cap = 0, len = 0, body_cap = 0, body_len = 0;
    uint8_t hdr[4];
    rtp_msg_t *m = s_full(RTP_MSG_JOINED);
    CHECK_INT(rtp_msg_encode(m, hdr, &body, &body_cap, &body_len), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(rtp_packed_append(&pack, &pack_cap, &len, hdr, body, body_len), 0);
    CHECK_INT(len, 3 * (8 + body_len));
    size_t n = rtp_packed_decode(pack, len, got, 8, &err);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(got[i]->type, RTP_MSG_JOINED);
        CHECK_STR(got[i]->tweet.created_at, "Wed Aug 27 13:08:45 +0000 2008");
        rtp_msg_destroy(&got[i]);
    }
    CHECK_INT(rtp_packed_decode(pack, len, got, 2, &err), 0); /* more than the receiver takes */
    CHECK(strstr(err.msg, "more than 2") != NULL);
    CHECK_INT(rtp_packed_decode(pack, len - 1, got, 8, &err), 0); /* the last body cut short */
    CHECK(strstr(err.msg, "bytes") != NULL);
    CHECK_INT(rtp_packed_decode(pack, 2 * (8 + body_len) + 5, got, 8, &err), 0); /* a header cut short */
    CHECK(strstr(err.msg, "cut short") != NULL);
    CHECK_INT(rtp_packed_decode(pack, 0, got, 8, &err), 0);
    CHECK(strstr(err.msg, "empty") != NULL);
    pack[8 + body_len + 3] = 200; /* the second message's type: unknown */
    CHECK_INT(rtp_packed_decode(pack, len, got, 8, &err), 0);
    CHECK(strstr(err.msg, "unknown message type") != NULL);
    rtp_msg_destroy(&m);
    free(pack);
    free(body);
}

/* A TASK kept encoded: marked with a print mark and copies, its bytes are those of
 * the message encoded with them; sent alone or as a bundle, it is received as the
 * message. */
static void test_encoded_tasks(void)
{
    rtp_msg_t *task = s_full(RTP_MSG_TASK);
    task->credit = 0;
    task->copies = 1;
    rtp_encoded_t wire;
    memset(&wire, 0, sizeof wire);
    CHECK_INT(rtp_encoded_set(&wire, task), 0);
    task->credit = 0x01020304;
    task->copies = 3;
    CHECK_INT(rtp_encoded_task_mark(&wire, task->credit, task->copies), 0);
    uint8_t hdr[4], *body = NULL;
    size_t cap = 0, len = 0;
    CHECK_INT(rtp_msg_encode(task, hdr, &body, &cap, &len), 0);
    CHECK_INT(wire.len, len);
    CHECK(memcmp(wire.hdr, hdr, 4) == 0 && memcmp(wire.body, body, len) == 0);
    free(body);
    /* only a TASK has those fields */
    rtp_msg_t *other = s_full(RTP_MSG_RESULT);
    rtp_encoded_t not_task;
    memset(&not_task, 0, sizeof not_task);
    CHECK_INT(rtp_encoded_set(&not_task, other), 0);
    CHECK_INT(rtp_encoded_task_mark(&not_task, 1, 1), -1);

    zsock_t *router, *dealer;
    s_connected_pair(&router, &dealer);
    rtp_err_t err = {{0}};
    rtp_peer_t peer;
    rtp_msg_t *got[RTP_BUNDLE_MAX];
    CHECK_INT(rtp_msg_send(other, dealer, NULL, 0), 0);   /* for the router's routing id */
    CHECK_INT(rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err), 1);
    rtp_msg_destroy(&got[0]);
    const rtp_encoded_t *three[3] = {&wire, &not_task, &wire};
    for (size_t n = 1; n <= 3; n += 2) {
        CHECK_INT(rtp_encoded_send_bundle(three, n, router, &peer, 0), 0);
        size_t k = rtp_msg_recv_bundle(dealer, NULL, 0, got, 8, &err);
        CHECK_INT(k, n);
        for (size_t i = 0; i < k; i++) {
            CHECK_INT(got[i]->type, i == 1 ? RTP_MSG_RESULT : RTP_MSG_TASK);
            if (got[i]->type == RTP_MSG_TASK) {
                CHECK(got[i]->credit == 0x01020304 && got[i]->copies == 3 && got[i]->key == task->key);
                CHECK_STR(got[i]->tweet.text, "hello world");
            }
            rtp_msg_destroy(&got[i]);
        }
    }
    CHECK_INT(rtp_encoded_send_bundle(three, 0, router, &peer, 0), -1);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
    rtp_encoded_clear(&wire);
    rtp_encoded_clear(&not_task);
    rtp_msg_destroy(&other);
    rtp_msg_destroy(&task);
}

/* A bundle built message by message (rtp_packed_add) and sent whole (rtp_packed_send):
 * received as those messages; ZeroMQ took the body, and the next one is built in a
 * new buffer of the size the last one needed. */
static void test_packed_send(void)
{
    zsock_t *router, *dealer;
    s_connected_pair(&router, &dealer);
    rtp_err_t err = {{0}};
    rtp_peer_t peer;
    rtp_msg_t *got[RTP_BUNDLE_MAX];
    rtp_msg_t *part = s_full(RTP_MSG_PART), *dead = s_full(RTP_MSG_DEADLETTER);
    uint8_t *body = NULL;
    size_t cap = 0, len = 0;
    CHECK_INT(rtp_packed_send(&body, len, dealer, NULL, 0), -1);   /* nothing in it */
    CHECK_INT(rtp_packed_add(&body, &cap, &len, part), 0);
    CHECK_INT(rtp_packed_add(&body, &cap, &len, dead), 0);
    size_t used = cap;
    CHECK_INT(rtp_packed_send(&body, len, dealer, NULL, 0), 0);
    CHECK(body == NULL && cap == used);
    CHECK_INT(rtp_msg_recv_bundle(router, &peer, 0, got, 8, &err), 2);
    CHECK(got[0]->type == RTP_MSG_PART && got[1]->type == RTP_MSG_DEADLETTER);
    CHECK_STR(got[0]->tweet.text, "hello world");
    CHECK(got[1]->raw_len == 3 && memcmp(got[1]->raw, "a\0b", 3) == 0);
    rtp_msg_destroy(&got[0]);
    rtp_msg_destroy(&got[1]);
    /* a bundle of one, back through the routing id, in a new buffer */
    len = 0;
    CHECK_INT(rtp_packed_add(&body, &cap, &len, part), 0);
    CHECK(body != NULL && cap == used);
    CHECK_INT(rtp_packed_send(&body, len, router, &peer, 0), 0);
    CHECK_INT(rtp_msg_recv_bundle(dealer, NULL, 0, got, 8, &err), 1);
    CHECK(got[0]->type == RTP_MSG_PART && got[0]->key == part->key);
    rtp_msg_destroy(&got[0]);
    rtp_msg_destroy(&part);
    rtp_msg_destroy(&dead);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

int main(void)
{
    test_bundles();
    test_packed_send();
    test_encoded_tasks();
    test_packed_decode();
    test_roundtrip_all_types();
    test_malformed_headers();
    test_sockets();
    CHECK_STR(rtp_pool_name(RTP_POOL_CENSOR), "censor");
    CHECK_INT(rtp_pool_from_name("engagement"), RTP_POOL_ENGAGEMENT);
    CHECK_INT(rtp_pool_from_name("nope"), -1);
    CHECK_STR(rtp_msg_type_name(RTP_MSG_JOINED), "JOINED");
    CHECK_STR(rtp_msg_type_name(99), "UNKNOWN");
    return CHECK_DONE();
}
