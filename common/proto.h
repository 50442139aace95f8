/* proto: the one wire protocol between rtp actors, and its codec.
 *
 * Every message is two ZeroMQ frames (after the routing id that ROUTER sockets add):
 *
 *   frame 1, header: 'R' 'T' version type          (4 bytes)
 *   frame 2, body:   the fields of that type, in a fixed order per type:
 *                    u8, u32/u64 big-endian, doubles as their IEEE bits,
 *                    strings as u32 length + bytes.
 *
 * A message whose header, type, frame count or body does not match exactly is
 * rejected with a reason (the caller logs a warning and drops it); the codec never
 * crashes on input and never reads past a frame.
 *
 * Who sends what (the message flow of ARCHITECTURE.md):
 *
 *   EVENT      reader -> broker       one decoded event: origin, seq, kind, tweet | raw+reason
 *   READY      worker -> broker       I serve `pool`, my name is `text`, up to `credit` tasks at once
 *   HEARTBEAT  both ways              any sign of life
 *   DISCONNECT both ways              going away, forget me; `kind` (rtp_bye_t): leaving
 *                                     cleanly (a worker's tasks handed back, none to blame),
 *                                     or a worker crashing (its oldest task is to blame)
 *   TASK       broker -> worker       work on event `key` (a tweet, or a panic to crash on),
 *                                     sent to `copies` workers at once (speculative); the
 *                                     tweet carries only id, screen_name, text and the counts;
 *                                     `credit` is the censor pool's print mark (print_budget.h):
 *                                     0 count the tweet, 1 print it, N > 1 print it after a
 *                                     line that N - 1 tweets went unprinted
 *   RESULT     worker -> broker       the result of `key` (tweet `id`) for `pool`: `text` (censor) or
 *                                     `number`; `number2` = the ms the worker spent on it
 *   CANCEL     broker -> worker       stop working on `key` (another copy won)
 *   SUPERVISOR supervisor -> broker   I am supervisor `text`, I can run `credit` workers,
 *                                     run `counts[pool]` of each pool now, and restarted
 *                                     `restarts[pool]` crashed ones so far (also my heartbeat)
 *   SCALE      broker -> supervisor   run `credit` workers of `pool` (a target, not a delta)
 *   WELCOME    broker -> supervisor   sent when a supervisor joins (or rejoins), before any SCALE:
 *                                     what its workers need: `text` the workers endpoint
 *                                     the broker binds, `origin` the workers' settings
 *                                     ("POOL:--flag=value" words, space-separated), `raw`
 *                                     the sentiment word list (empty: none to offer)
 *   WON        broker -> worker       your result for `key` is the one used (a task sent
 *                                     to several workers, `copies` > 1, prints only then)
 *   PART       broker -> aggregator   one part of event `key`: the record, or one pool's result;
 *                                     the four go together as one bundle once every pool answered
 *   JOINED     aggregator -> batcher  a complete record: tweet, censored `text`, sentiment
 *                                     `number`, engagement `number2`
 *   CREDIT     batcher -> aggregator  send me `credit` more records (reactive pull)
 *   DEADLETTER -> batcher             an event that cannot be processed: `text` reason, `raw`
 *   ACK        batcher -> broker -> reader   these `acks` seqs of `origin` are persisted
 *   HASHTAGS   broker -> hashtags     the hashtags of tweet `id` (`text`, space-separated) at `time_ms`
 */
#ifndef RTP_PROTO_H
#define RTP_PROTO_H

#include "rtp_err.h"
#include "tweet.h"

#include <stddef.h>
#include <stdint.h>

/* Version 3 added WELCOME, DISCONNECT's kind and TASK's print mark; a version-2
 * peer's messages of the other types read the same. Version 2 changed TASK and
 * SUPERVISOR (see s_readable in proto.c). */
#define RTP_PROTO_VERSION 3

typedef enum {
    RTP_MSG_EVENT = 1,
    RTP_MSG_READY,
    RTP_MSG_HEARTBEAT,
    RTP_MSG_DISCONNECT,
    RTP_MSG_TASK,
    RTP_MSG_RESULT,
    RTP_MSG_CANCEL,
    RTP_MSG_PART,
    RTP_MSG_JOINED,
    RTP_MSG_CREDIT,
    RTP_MSG_DEADLETTER,
    RTP_MSG_ACK,
    RTP_MSG_HASHTAGS,
    RTP_MSG_WON,
    RTP_MSG_SUPERVISOR,
    RTP_MSG_SCALE,
    RTP_MSG_WELCOME,
    RTP_MSG_TYPE_COUNT_
} rtp_msg_type_t;

/* The three worker pools. */
typedef enum { RTP_POOL_CENSOR = 0, RTP_POOL_SENTIMENT, RTP_POOL_ENGAGEMENT, RTP_POOL_COUNT } rtp_pool_t;

/* Why a DISCONNECT: a clean goodbye, or a worker's last word before it crashes. */
typedef enum { RTP_BYE_LEAVING = 0, RTP_BYE_CRASHING } rtp_bye_t;

/* What a PART carries: the record itself, or one pool's result (RTP_PART_RESULT + pool). */
typedef enum { RTP_PART_CENSOR = 0, RTP_PART_SENTIMENT, RTP_PART_ENGAGEMENT, RTP_PART_RECORD } rtp_part_t;

typedef struct {
    rtp_msg_type_t type;
    uint64_t key;          /* the broker's unique number for one event */
    uint64_t seq;          /* the reader's number for one event (acknowledgements) */
    uint8_t pool;          /* rtp_pool_t */
    uint8_t kind;          /* EVENT/TASK: rtp_event_kind_t; PART: rtp_part_t */
    uint8_t copies;        /* TASK: how many workers got this task */
    uint32_t credit;
    int64_t received_us;   /* wall clock when the reader received the event */
    int64_t time_ms;
    double number;
    double number2;
    char *origin;          /* the reader's name */
    char *id;              /* a tweet id, where the whole record is not carried */
    char *text;
    char *raw;
    size_t raw_len;
    uint32_t counts[3];    /* SUPERVISOR: workers it runs now, per pool */
    uint32_t restarts[3];  /* SUPERVISOR: restarts of its crashed workers so far, per pool */
    uint64_t *acks;
    uint32_t ack_count;
    rtp_tweet_t tweet;
} rtp_msg_t;

/* A ROUTER peer's routing id. */
typedef struct {
    uint8_t data[256];
    size_t len;
} rtp_peer_t;

rtp_msg_t *rtp_msg_new(rtp_msg_type_t type);
void rtp_msg_destroy(rtp_msg_t **self_p);
/* Replaces a string field with a copy of value (NULL -> ""); 0 or -1. */
int rtp_msg_set_str(char **field, const char *value);
/* Replaces raw with a copy of len bytes. */
int rtp_msg_set_raw(rtp_msg_t *self, const void *data, size_t len);
/* Replaces the ack list with a copy of count seqs. */
int rtp_msg_set_acks(rtp_msg_t *self, const uint64_t *seqs, uint32_t count);

/* Sends msg (not consumed) on a czmq or libzmq socket; to `peer` first when not
 * NULL (ROUTER). flags: 0 or ZMQ_DONTWAIT. 0, or -1 with errno (EAGAIN, EHOSTUNREACH). */
int rtp_msg_send(const rtp_msg_t *msg, void *sock, const rtp_peer_t *peer, int flags);

/* Receives one whole message (blocking unless flags has ZMQ_DONTWAIT). With a peer
 * pointer the first frame is taken as the routing id. Returns NULL on a malformed
 * message (all its frames consumed, reason in err) or when nothing was received
 * (errno EAGAIN/EINTR, err says so). */
rtp_msg_t *rtp_msg_recv(void *sock, rtp_peer_t *peer, int flags, rtp_err_t *err);

/* A bundle: n messages (1..RTP_BUNDLE_MAX) sent as ONE ZeroMQ message. ZeroMQ
 * delivers a message whole or not at all, so a bundle is atomic (the four parts of
 * one event cannot be split by a crash), and it costs one wake-up of each side
 * instead of n. Same contract as rtp_msg_send otherwise.
 *
 * On the wire a bundle of more than one is PACKED: a header frame "RT", version,
 * RTP_PACKED_TYPE, then one frame holding, per message, its 4-byte header, its
 * body's length (u32, big-endian) and its body. One frame instead of two per
 * message: one allocation and copy in ZeroMQ per bundle, not per message. A single
 * message is its usual pair of frames (rtp_packed_send may send a packed bundle of
 * one); receivers take a bundle in either form (a run of pairs too). */
#define RTP_BUNDLE_MAX 64
#define RTP_PACKED_TYPE 0xB0
int rtp_msg_send_bundle(rtp_msg_t *const *msgs, size_t n, void *sock, const rtp_peer_t *peer, int flags);

/* Appends one encoded message (its 4-byte header and body) to a packed bundle's
 * body in *buf (grown as needed; *len is its length so far). 0, or -1 out of
 * memory. For senders that keep messages encoded (the reader's window). */
int rtp_packed_append(uint8_t **buf, size_t *cap, size_t *len, const uint8_t hdr[4], const uint8_t *body,
                      size_t body_len);
/* The header frame of a packed bundle. */
void rtp_packed_header(uint8_t hdr[4]);
/* Appends msg, encoded in place, to a packed bundle's body in *buf (grown as
 * needed; *len is its length so far). 0, or -1 (see rtp_msg_encode). For senders
 * that build a bundle as its messages come (the broker's, to the aggregator). */
int rtp_packed_add(uint8_t **buf, size_t *cap, size_t *len, const rtp_msg_t *msg);
/* Sends a packed bundle's body, len bytes at *body (made by rtp_packed_append or
 * rtp_packed_add), as one ZeroMQ message, on the terms of rtp_msg_send_bundle. On
 * success ZeroMQ took the body (no copy: it frees it once written), *body is NULL,
 * and the *cap that went with it is left as a size hint for the next one (a NULL
 * buffer is allocated at that size). On failure *body is left as it was. */
int rtp_packed_send(uint8_t **body, size_t len, void *sock, const rtp_peer_t *peer, int flags);

/* A message kept encoded, sent many times without encoding it again: the broker
 * sends an event's TASK to a worker of each pool, and to speculative copies. */
typedef struct {
    uint8_t hdr[4];
    uint8_t *body;
    size_t len, cap;
} rtp_encoded_t;

/* Encodes msg into self (a zeroed rtp_encoded_t, or one to reuse). 0 or -1. */
int rtp_encoded_set(rtp_encoded_t *self, const rtp_msg_t *msg);
void rtp_encoded_clear(rtp_encoded_t *self);
/* Sets an encoded TASK's print mark (credit) and copies, the two fields that
 * differ between the copies of one task: the bytes are then those of the message
 * encoded with these values. 0, or -1 when self is not a TASK. */
int rtp_encoded_task_mark(rtp_encoded_t *self, uint32_t credit, uint8_t copies);
/* rtp_msg_send_bundle for messages kept encoded (the same bytes on the wire). */
int rtp_encoded_send_bundle(const rtp_encoded_t *const *msgs, size_t n, void *sock, const rtp_peer_t *peer,
                            int flags);

/* Receives one ZeroMQ message that may be a bundle of up to `max` (<= RTP_BUNDLE_MAX)
 * messages into out[0..]; returns how many (>= 1), or 0 as rtp_msg_recv returns
 * NULL. All or nothing: a bundle with any malformed message, a frame count that is
 * not a packed bundle nor pairs, or more than max messages is rejected whole. A
 * plain message is a bundle of one. */
size_t rtp_msg_recv_bundle(void *sock, rtp_peer_t *peer, int flags, rtp_msg_t **out, size_t max, rtp_err_t *err);

/* Decodes a packed bundle's body (the frame after its header) into out[0..max);
 * returns how many, or 0 with the reason in err (all or nothing). */
size_t rtp_packed_decode(const uint8_t *body, size_t len, rtp_msg_t **out, size_t max, rtp_err_t *err);

/* Pure codec, for tests and fuzzing. encode writes into *buf (grown with realloc as
 * needed, caller frees) and returns the body length, header into hdr[4]. */
int rtp_msg_encode(const rtp_msg_t *msg, uint8_t hdr[4], uint8_t **buf, size_t *cap, size_t *len);
rtp_msg_t *rtp_msg_decode(const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t body_len,
                          rtp_err_t *err);

const char *rtp_msg_type_name(int type);
const char *rtp_pool_name(int pool);
/* -1 when the name is not a pool's. */
int rtp_pool_from_name(const char *name);

#endif
