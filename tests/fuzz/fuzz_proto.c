/* fuzz_proto: the protocol codec (common/proto.h) on arbitrary frames.
 *
 * The input is one byte n, then the header frame (its first n bytes after that,
 * fewer if the input is shorter), then the body frame (the rest). Each frame is
 * copied into an allocation of exactly its size, so that ASan sees any read past
 * a frame. rtp_msg_decode must reject with a reason or accept; an accepted message
 * is encoded again, which must give back the very same header and body bytes (every
 * field has one encoding), and decoding those must give an identical message,
 * field by field (doubles bit by bit).
 */
#include "proto.h"

#include "fuzz_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *s_frame(const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    FUZZ_CHECK(copy, "out of memory");
    if (n)
        memcpy(copy, p, n);
    return copy;
}

static int s_str_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The first field that differs, or NULL. */
static const char *s_msg_diff(const rtp_msg_t *a, const rtp_msg_t *b)
{
    if (a->type != b->type)
        return "type";
    if (a->key != b->key || a->seq != b->seq || a->pool != b->pool || a->kind != b->kind ||
        a->credit != b->credit)
        return "an integer field";
    if (a->received_us != b->received_us || a->time_ms != b->time_ms)
        return "a time";
    if (memcmp(&a->number, &b->number, sizeof a->number) ||
        memcmp(&a->number2, &b->number2, sizeof a->number2))
        return "a number";
    if (!s_str_equal(a->origin, b->origin) || !s_str_equal(a->id, b->id) || !s_str_equal(a->text, b->text))
        return "a string field";
    if (a->raw_len != b->raw_len || (!a->raw) != (!b->raw) || (a->raw && memcmp(a->raw, b->raw, a->raw_len)))
        return "raw";
    if (a->raw && a->raw[a->raw_len] != '\0')
        return "raw's terminating NUL";
    if (a->ack_count != b->ack_count ||
        (a->ack_count && memcmp(a->acks, b->acks, a->ack_count * sizeof *a->acks)))
        return "acks";
    const rtp_tweet_t *x = &a->tweet, *y = &b->tweet;
    if (!s_str_equal(x->id, y->id) || !s_str_equal(x->user_id, y->user_id) ||
        !s_str_equal(x->user_name, y->user_name) || !s_str_equal(x->screen_name, y->screen_name) ||
        !s_str_equal(x->text, y->text) || !s_str_equal(x->hashtags, y->hashtags) ||
        !s_str_equal(x->created_at, y->created_at) || !s_str_equal(x->lang, y->lang) ||
        !s_str_equal(x->retweet_of, y->retweet_of))
        return "a tweet string";
    if (x->followers != y->followers || x->favorites != y->favorites || x->retweets != y->retweets ||
        x->time_ms != y->time_ms)
        return "a tweet number";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t hdr_len = data[0] < size - 1 ? data[0] : size - 1;
    uint8_t *hdr = s_frame(data + 1, hdr_len);
    size_t body_len = size - 1 - hdr_len;
    uint8_t *body = s_frame(data + 1 + hdr_len, body_len);

    rtp_err_t err = {{0}};
    if (hdr_len == 4 && hdr[3] == RTP_PACKED_TYPE) {
        /* a packed bundle's body: all of it or nothing, each message as below */
        rtp_msg_t *got[RTP_BUNDLE_MAX];
        size_t n = rtp_packed_decode(body, body_len, got, RTP_BUNDLE_MAX, &err);
        if (!n)
            FUZZ_CHECK(strnlen(err.msg, sizeof err.msg) > 0, "a packed bundle rejected without a reason");
        for (size_t i = 0; i < n; i++) {
            uint8_t h[4];
            uint8_t *b = NULL;
            size_t c = 0, l = 0;
            FUZZ_CHECK(rtp_msg_encode(got[i], h, &b, &c, &l) == 0, "a packed %s does not encode",
                       rtp_msg_type_name(got[i]->type));
            free(b);
            rtp_msg_destroy(&got[i]);
        }
        free(hdr);
        free(body);
        return 0;
    }
    rtp_msg_t *msg = rtp_msg_decode(hdr, hdr_len, body, body_len, &err);
    if (!msg) {
        size_t n = strnlen(err.msg, sizeof err.msg);
        FUZZ_CHECK(n > 0 && n < sizeof err.msg, "rejected without a reason");
        free(hdr);
        free(body);
        return 0;
    }
    FUZZ_CHECK(msg->type > 0 && msg->type < RTP_MSG_TYPE_COUNT_, "accepted type %d", msg->type);
    FUZZ_CHECK(strcmp(rtp_msg_type_name(msg->type), "UNKNOWN") != 0, "a type without a name");

    uint8_t hdr2[4];
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    FUZZ_CHECK(rtp_msg_encode(msg, hdr2, &buf, &cap, &len) == 0, "an accepted %s does not encode",
               rtp_msg_type_name(msg->type));
    /* a message of an older version, of a type that has not changed since, is read,
     * and written as the current version */
    FUZZ_CHECK(hdr_len == 4 && hdr2[0] == hdr[0] && hdr2[1] == hdr[1] && hdr2[3] == hdr[3] &&
                   (hdr2[2] == hdr[2] || (hdr[2] >= 1 && hdr[2] < RTP_PROTO_VERSION && hdr2[2] == RTP_PROTO_VERSION)),
               "the header does not encode back");
    FUZZ_CHECK(len == body_len && (len == 0 || memcmp(buf, body, len) == 0),
               "%s: a body of %zu bytes encodes back to %zu different bytes", rtp_msg_type_name(msg->type),
               body_len, len);

    uint8_t *body2 = s_frame(buf, len);
    rtp_msg_t *again = rtp_msg_decode(hdr2, 4, body2, len, &err);
    FUZZ_CHECK(again, "%s: its own encoding is rejected: %s", rtp_msg_type_name(msg->type), err.msg);
    const char *diff = s_msg_diff(msg, again);
    FUZZ_CHECK(!diff, "%s: %s differs after encode and decode", rtp_msg_type_name(msg->type), diff);

    rtp_msg_destroy(&again);
    rtp_msg_destroy(&msg);
    rtp_msg_destroy(&msg); /* safe twice */
    FUZZ_CHECK(!msg, "destroy did not clear the pointer");
    free(buf);
    free(body2);
    free(hdr);
    free(body);
    return 0;
}
