#include "proto.h"

#include "util.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Fields, in wire order. Each type carries a fixed set of them (s_fields). */
enum {
    F_KEY = 1 << 0,
    F_SEQ = 1 << 1,
    F_POOL = 1 << 2,
    F_KIND = 1 << 3,
    F_CREDIT = 1 << 4,
    F_RECEIVED = 1 << 5,
    F_TIME = 1 << 6,
    F_NUMBER = 1 << 7,
    F_NUMBER2 = 1 << 8,
    F_ORIGIN = 1 << 9,
    F_TEXT = 1 << 10,
    F_RAW = 1 << 11,
    F_ACKS = 1 << 12,
    F_TWEET = 1 << 13,
    F_ID = 1 << 14,
    F_COPIES = 1 << 15,
    F_COUNTS = 1 << 16,
    F_TASK_TWEET = 1 << 17, /* in F_TWEET's place: only what a worker reads */
};

static const uint32_t s_fields[RTP_MSG_TYPE_COUNT_] = {
    [RTP_MSG_EVENT] = F_SEQ | F_KIND | F_RECEIVED | F_ORIGIN | F_TEXT | F_RAW | F_TWEET,
    [RTP_MSG_READY] = F_POOL | F_CREDIT | F_TEXT,
    [RTP_MSG_HEARTBEAT] = 0,
    [RTP_MSG_DISCONNECT] = F_KIND,
    [RTP_MSG_TASK] = F_KEY | F_KIND | F_CREDIT | F_RECEIVED | F_TASK_TWEET | F_COPIES,
    [RTP_MSG_RESULT] = F_KEY | F_POOL | F_NUMBER | F_NUMBER2 | F_TEXT | F_ID,
    [RTP_MSG_CANCEL] = F_KEY,
    [RTP_MSG_PART] = F_KEY | F_SEQ | F_KIND | F_RECEIVED | F_NUMBER | F_ORIGIN | F_TEXT | F_TWEET,
    [RTP_MSG_JOINED] = F_KEY | F_SEQ | F_RECEIVED | F_NUMBER | F_NUMBER2 | F_ORIGIN | F_TEXT | F_TWEET,
    [RTP_MSG_CREDIT] = F_CREDIT,
    [RTP_MSG_DEADLETTER] = F_KEY | F_SEQ | F_RECEIVED | F_ORIGIN | F_TEXT | F_RAW,
    [RTP_MSG_ACK] = F_ORIGIN | F_ACKS,
    [RTP_MSG_HASHTAGS] = F_TIME | F_TEXT | F_ID,
    [RTP_MSG_WON] = F_KEY,
    [RTP_MSG_SUPERVISOR] = F_CREDIT | F_TEXT | F_COUNTS,
    [RTP_MSG_SCALE] = F_POOL | F_CREDIT,
    [RTP_MSG_WELCOME] = F_ORIGIN | F_TEXT | F_RAW,
};

static const char *s_type_names[RTP_MSG_TYPE_COUNT_] = {
    "?", "EVENT", "READY", "HEARTBEAT", "DISCONNECT", "TASK", "RESULT", "CANCEL",
    "PART", "JOINED", "CREDIT", "DEADLETTER", "ACK", "HASHTAGS", "WON", "SUPERVISOR", "SCALE",
    "WELCOME",
};
static const char *s_pool_names[RTP_POOL_COUNT] = {"censor", "sentiment", "engagement"};

/* Caps that keep a hostile peer from making us allocate without bound. */
#define MAX_STRING (16u << 20)
#define MAX_ACKS (1u << 20)

const char *rtp_msg_type_name(int type)
{
    return type > 0 && type < RTP_MSG_TYPE_COUNT_ ? s_type_names[type] : "UNKNOWN";
}

const char *rtp_pool_name(int pool) { return pool >= 0 && pool < RTP_POOL_COUNT ? s_pool_names[pool] : "?"; }

int rtp_pool_from_name(const char *name)
{
    for (int i = 0; name && i < RTP_POOL_COUNT; i++)
        if (strcmp(name, s_pool_names[i]) == 0)
            return i;
    return -1;
}

/* Messages are made and freed by the thousand a second on every hot path, in
 * bursts (a bundle of 64 at once), where malloc's per-thread cache (7 blocks of a
 * size) runs dry: each thread keeps up to MSG_CACHE freed ones for its next
 * rtp_msg_new. Not under AddressSanitizer, which must see every free. */
#if defined(__SANITIZE_ADDRESS__)
#define MSG_CACHE 0
#else
#define MSG_CACHE 64
static __thread rtp_msg_t *t_msg_cache[MSG_CACHE];
static __thread int t_msg_cached;
#endif

rtp_msg_t *rtp_msg_new(rtp_msg_type_t type)
{
    rtp_msg_t *self;
#if MSG_CACHE
    if (t_msg_cached) {
        self = t_msg_cache[--t_msg_cached];
        memset(self, 0, sizeof *self);
    } else
#endif
        self = calloc(1, sizeof *self);
    if (self)
        self->type = type;
    return self;
}

void rtp_msg_destroy(rtp_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_msg_t *self = *self_p;
    free(self->origin);
    free(self->id);
    free(self->text);
    free(self->raw);
    free(self->acks);
    rtp_tweet_clear(&self->tweet);
#if MSG_CACHE
    if (t_msg_cached < MSG_CACHE)
        t_msg_cache[t_msg_cached++] = self;
    else
#endif
        free(self);
    *self_p = NULL;
}

int rtp_msg_set_str(char **field, const char *value)
{
    char *copy = strdup(value ? value : "");
    if (!copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

int rtp_msg_set_raw(rtp_msg_t *self, const void *data, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    copy[len] = 0;
    free(self->raw);
    self->raw = copy;
    self->raw_len = len;
    return 0;
}

int rtp_msg_set_acks(rtp_msg_t *self, const uint64_t *seqs, uint32_t count)
{
    uint64_t *copy = malloc((count ? count : 1) * sizeof *copy);
    if (!copy)
        return -1;
    if (count)
        memcpy(copy, seqs, count * sizeof *copy);
    free(self->acks);
    self->acks = copy;
    self->ack_count = count;
    return 0;
}

/* --- writer: the size first, one reservation, then stores without checks --- */

/* Makes room for `need` bytes in *buf (rtp_reserve, doubling from 512; a NULL *buf
 * is allocated at *cap at least, a size hint). 0, or -1 out of memory. */
static int s_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    uint8_t *grown = rtp_reserve(*buf, cap, need, 512);
    if (!grown)
        return -1;
    *buf = grown;
    return 0;
}

/* Straight-line byte stores (a loop is not unrolled at -O2): the compiler makes
 * them one byte swap and one store. */
static uint8_t *w_u64(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t) (v >> 56);
    p[1] = (uint8_t) (v >> 48);
    p[2] = (uint8_t) (v >> 40);
    p[3] = (uint8_t) (v >> 32);
    p[4] = (uint8_t) (v >> 24);
    p[5] = (uint8_t) (v >> 16);
    p[6] = (uint8_t) (v >> 8);
    p[7] = (uint8_t) v;
    return p + 8;
}

static uint8_t *w_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
    return p + 4;
}

static uint8_t *w_double(uint8_t *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return w_u64(p, bits);
}

static uint8_t *w_blob(uint8_t *p, const char *s, size_t n)
{
    p = w_u32(p, (uint32_t) n);
    if (n)
        memcpy(p, s, n);
    return p + n;
}

/* The lengths of a message's strings, measured once for the size and the stores. */
typedef struct {
    size_t origin, text, raw, id;
    size_t tweet[9];
} lengths_t;

static size_t s_len(const char *s) { return s ? strlen(s) : 0; }
static const char *s_or_empty(const char *s) { return s ? s : ""; }

/* The tweet's strings in rtp_tweet_set_n's order. */
static void s_tweet_strings(const rtp_tweet_t *t, const char *s[9])
{
    const char *v[9] = {t->id,       t->user_id,    t->user_name, t->screen_name, t->text,
                        t->hashtags, t->created_at, t->lang,      t->retweet_of};
    for (int i = 0; i < 9; i++)
        s[i] = s_or_empty(v[i]);
}

/* A task's tweet: what the workers read (the id, the screen name the censor pool
 * prints, the text, the counts of the engagement ratio); the broker keeps the
 * whole record for the aggregator. The text goes to every pool for the
 * --crash-on test hook. */
static const int s_task_tweet_strings[3] = {0, 3, 4};

/* The body's size: fixed fields plus the strings, whose lengths go into *n. */
static size_t s_body_size(const rtp_msg_t *msg, uint32_t f, lengths_t *n)
{
    size_t size = 0;
    size += (f & F_KEY ? 8 : 0) + (f & F_SEQ ? 8 : 0) + (f & F_POOL ? 1 : 0) + (f & F_KIND ? 1 : 0);
    size += (f & F_CREDIT ? 4 : 0) + (f & F_RECEIVED ? 8 : 0) + (f & F_TIME ? 8 : 0);
    size += (f & F_NUMBER ? 8 : 0) + (f & F_NUMBER2 ? 8 : 0) + (f & F_COPIES ? 1 : 0);
    if (f & F_ORIGIN)
        size += 4 + (n->origin = s_len(msg->origin));
    if (f & F_TEXT)
        size += 4 + (n->text = s_len(msg->text));
    if (f & F_RAW)
        size += 4 + (n->raw = msg->raw ? msg->raw_len : 0);
    if (f & F_ACKS)
        size += 4 + (size_t) msg->ack_count * 8;
    if (f & (F_TWEET | F_TASK_TWEET))
        rtp_tweet_lengths(&msg->tweet, n->tweet);
    if (f & F_TWEET) {
        for (int i = 0; i < 9; i++)
            size += 4 + n->tweet[i];
        size += 4 * 8;
    }
    if (f & F_TASK_TWEET) {
        for (int i = 0; i < 3; i++)
            size += 4 + n->tweet[s_task_tweet_strings[i]];
        size += 3 * 8;
    }
    if (f & F_ID)
        size += 4 + (n->id = s_len(msg->id));
    if (f & F_COUNTS)
        size += RTP_POOL_COUNT * 8;
    return size;
}

/* Writes the body (exactly s_body_size bytes) at p; returns its end. */
static uint8_t *s_write_body(uint8_t *p, const rtp_msg_t *msg, uint32_t f, const lengths_t *n)
{
    if (f & F_KEY)
        p = w_u64(p, msg->key);
    if (f & F_SEQ)
        p = w_u64(p, msg->seq);
    if (f & F_POOL)
        *p++ = msg->pool;
    if (f & F_KIND)
        *p++ = msg->kind;
    if (f & F_CREDIT)
        p = w_u32(p, msg->credit);
    if (f & F_RECEIVED)
        p = w_u64(p, (uint64_t) msg->received_us);
    if (f & F_TIME)
        p = w_u64(p, (uint64_t) msg->time_ms);
    if (f & F_NUMBER)
        p = w_double(p, msg->number);
    if (f & F_NUMBER2)
        p = w_double(p, msg->number2);
    if (f & F_ORIGIN)
        p = w_blob(p, msg->origin, n->origin);
    if (f & F_TEXT)
        p = w_blob(p, msg->text, n->text);
    if (f & F_RAW)
        p = w_blob(p, msg->raw, n->raw);
    if (f & F_ACKS) {
        p = w_u32(p, msg->ack_count);
        for (uint32_t i = 0; i < msg->ack_count; i++)
            p = w_u64(p, msg->acks[i]);
    }
    if (f & (F_TWEET | F_TASK_TWEET)) {
        const rtp_tweet_t *t = &msg->tweet;
        const char *s[9];
        s_tweet_strings(t, s);
        if (f & F_TWEET)
            for (int i = 0; i < 9; i++)
                p = w_blob(p, s[i], n->tweet[i]);
        else
            for (int i = 0; i < 3; i++)
                p = w_blob(p, s[s_task_tweet_strings[i]], n->tweet[s_task_tweet_strings[i]]);
        p = w_u64(p, (uint64_t) t->followers);
        p = w_u64(p, (uint64_t) t->favorites);
        p = w_u64(p, (uint64_t) t->retweets);
        if (f & F_TWEET)
            p = w_u64(p, (uint64_t) t->time_ms);
    }
    if (f & F_ID)
        p = w_blob(p, msg->id, n->id);
    if (f & F_COPIES)
        *p++ = msg->copies;
    if (f & F_COUNTS)
        for (int i = 0; i < RTP_POOL_COUNT; i++) {
            p = w_u32(p, msg->counts[i]);
            p = w_u32(p, msg->restarts[i]);
        }
    return p;
}

/* A header frame: "RT", our version, the type (a message's, or RTP_PACKED_TYPE). */
static void s_header(uint8_t hdr[4], uint8_t type)
{
    hdr[0] = 'R';
    hdr[1] = 'T';
    hdr[2] = RTP_PROTO_VERSION;
    hdr[3] = type;
}

/* Encodes msg's body at byte `at` of *buf (grown as needed; the bytes before `at`
 * are kept), its header into hdr; its length into *len. 0, or -1 (an unknown type,
 * a string past 4 GiB, out of memory). */
static int s_encode_at(const rtp_msg_t *msg, uint8_t hdr[4], uint8_t **buf, size_t *cap, size_t at,
                       size_t *len)
{
    if (msg->type <= 0 || msg->type >= RTP_MSG_TYPE_COUNT_)
        return -1;
    s_header(hdr, (uint8_t) msg->type);
    uint32_t f = s_fields[msg->type];
    lengths_t n = {0};
    size_t size = s_body_size(msg, f, &n);
    if (n.origin > UINT32_MAX || n.text > UINT32_MAX || n.raw > UINT32_MAX || n.id > UINT32_MAX)
        return -1;
    for (int i = 0; i < 9; i++)
        if (n.tweet[i] > UINT32_MAX)
            return -1;
    /* at least one byte: an empty body still gets a buffer (callers send *buf) */
    if (s_reserve(buf, cap, at + (size ? size : 1)) != 0)
        return -1;
    s_write_body(*buf + at, msg, f, &n);
    *len = size;
    return 0;
}

int rtp_msg_encode(const rtp_msg_t *msg, uint8_t hdr[4], uint8_t **buf, size_t *cap, size_t *len)
{
    return s_encode_at(msg, hdr, buf, cap, 0, len);
}

/* --- reader: bounds-checked cursor over a frame --- */
typedef struct {
    const uint8_t *p, *end;
    const char *failed;   /* the first reason decoding stopped, or NULL */
} reader_t;

static int r_need(reader_t *r, size_t n, const char *what)
{
    if (r->failed)
        return -1;
    if ((size_t) (r->end - r->p) < n) {
        r->failed = what;
        return -1;
    }
    return 0;
}

static uint64_t r_u64(reader_t *r, const char *what)
{
    if (r_need(r, 8, what))
        return 0;
    const uint8_t *b = r->p;   /* straight-line, as w_u64 */
    uint64_t v = (uint64_t) b[0] << 56 | (uint64_t) b[1] << 48 | (uint64_t) b[2] << 40 |
                 (uint64_t) b[3] << 32 | (uint64_t) b[4] << 24 | (uint64_t) b[5] << 16 |
                 (uint64_t) b[6] << 8 | b[7];
    r->p += 8;
    return v;
}

static uint32_t r_u32(reader_t *r, const char *what)
{
    if (r_need(r, 4, what))
        return 0;
    uint32_t v = (uint32_t) r->p[0] << 24 | (uint32_t) r->p[1] << 16 | (uint32_t) r->p[2] << 8 | r->p[3];
    r->p += 4;
    return v;
}

static uint8_t r_u8(reader_t *r, const char *what)
{
    if (r_need(r, 1, what))
        return 0;
    return *r->p++;
}

static double r_double(reader_t *r, const char *what)
{
    uint64_t bits = r_u64(r, what);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* Returns a pointer to n bytes inside the frame (not NUL-terminated). */
static const uint8_t *r_blob(reader_t *r, size_t *n, const char *what)
{
    uint32_t len = r_u32(r, what);
    if (r->failed)
        return NULL;
    if (len > MAX_STRING) {
        r->failed = what;
        return NULL;
    }
    if (r_need(r, len, what))
        return NULL;
    const uint8_t *s = r->p;
    r->p += len;
    *n = len;
    return s;
}

/* A string field inside the frame (not NUL-terminated); a string with a NUL
 * inside is malformed. */
static const char *r_str_view(reader_t *r, size_t *n, const char *what)
{
    const uint8_t *s = r_blob(r, n, what);
    if (s && memchr(s, 0, *n)) {
        r->failed = what;
        return NULL;
    }
    return (const char *) s;
}

/* A NUL-terminated copy of a string field; a string with a NUL inside is malformed. */
static char *r_str(reader_t *r, const char *what)
{
    size_t n = 0;
    const char *s = r_str_view(r, &n, what);
    if (!s)
        return NULL;
    char *copy = malloc(n + 1);
    if (!copy) {
        r->failed = "out of memory";
        return NULL;
    }
    memcpy(copy, s, n);
    copy[n] = 0;
    return copy;
}

/* The record's strings go straight from the frame into its one allocation. A full
 * record has all nine strings and four numbers; a task's (w_task_tweet) the id,
 * screen name, text and three counts, the other strings "" and time_ms 0. */
static void r_tweet_fields(reader_t *r, rtp_tweet_t *t, int full)
{
    static const char *names[9] = {"tweet id", "user id", "user name", "screen name", "text",
                                   "hashtags", "created_at", "lang", "retweet_of"};
    const char *s[9] = {"", "", "", "", "", "", "", "", ""};
    size_t n[9] = {0};
    for (int i = 0; i < 9; i++)
        if (full || i == 0 || i == 3 || i == 4)
            s[i] = r_str_view(r, &n[i], names[i]);
    int64_t followers = (int64_t) r_u64(r, "followers");
    int64_t favorites = (int64_t) r_u64(r, "favorites");
    int64_t retweets = (int64_t) r_u64(r, "retweets");
    int64_t time_ms = full ? (int64_t) r_u64(r, "time") : 0;
    if (!r->failed) {
        if (rtp_tweet_set_n(t, s, n) != 0)
            r->failed = "out of memory";
        t->followers = followers;
        t->favorites = favorites;
        t->retweets = retweets;
        t->time_ms = time_ms;
    }
}

/* What an older peer's message of a type reads as today, so that a batcher journal
 * written before an upgrade is replayed after it: version 3 added WELCOME,
 * DISCONNECT's kind and TASK's print mark (its credit); version 2 had already
 * changed TASK (a slimmer tweet) and SUPERVISOR (restart counts) from version 1. */
static int s_readable(uint8_t version, uint8_t type)
{
    if (version == RTP_PROTO_VERSION)
        return 1;
    int changed_in_3 = type == RTP_MSG_WELCOME || type == RTP_MSG_DISCONNECT || type == RTP_MSG_TASK;
    if (version == 2)
        return !changed_in_3;
    return version == 1 && !changed_in_3 && type != RTP_MSG_SUPERVISOR;
}

rtp_msg_t *rtp_msg_decode(const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t body_len,
                          rtp_err_t *err)
{
    if (hdr_len != 4 || hdr[0] != 'R' || hdr[1] != 'T') {
        rtp_err_set(err, "not an rtp message (bad header frame of %zu bytes)", hdr_len);
        return NULL;
    }
    if (!s_readable(hdr[2], hdr[3])) {
        rtp_err_set(err, "protocol version %d, expected %d", hdr[2], RTP_PROTO_VERSION);
        return NULL;
    }
    if (hdr[3] == 0 || hdr[3] >= RTP_MSG_TYPE_COUNT_) {
        rtp_err_set(err, "unknown message type %d", hdr[3]);
        return NULL;
    }
    rtp_msg_t *msg = rtp_msg_new((rtp_msg_type_t) hdr[3]);
    if (!msg) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    uint32_t f = s_fields[msg->type];
    reader_t r = {body, body + body_len, NULL};
    if (f & F_KEY)
        msg->key = r_u64(&r, "key");
    if (f & F_SEQ)
        msg->seq = r_u64(&r, "seq");
    if (f & F_POOL)
        msg->pool = r_u8(&r, "pool");
    if (f & F_KIND)
        msg->kind = r_u8(&r, "kind");
    if (f & F_CREDIT)
        msg->credit = r_u32(&r, "credit");
    if (f & F_RECEIVED)
        msg->received_us = (int64_t) r_u64(&r, "received time");
    if (f & F_TIME)
        msg->time_ms = (int64_t) r_u64(&r, "time");
    if (f & F_NUMBER)
        msg->number = r_double(&r, "number");
    if (f & F_NUMBER2)
        msg->number2 = r_double(&r, "number2");
    if (f & F_ORIGIN)
        msg->origin = r_str(&r, "origin");
    if (f & F_TEXT)
        msg->text = r_str(&r, "text");
    if (f & F_RAW) {
        size_t n = 0;
        const uint8_t *raw = r_blob(&r, &n, "raw");
        if (raw && rtp_msg_set_raw(msg, raw, n) != 0)
            r.failed = "out of memory";
    }
    if (f & F_ACKS) {
        uint32_t count = r_u32(&r, "ack count");
        if (!r.failed && (count > MAX_ACKS || (size_t) (r.end - r.p) < (size_t) count * 8))
            r.failed = "ack list";
        if (!r.failed) {
            msg->acks = malloc((count ? count : 1) * sizeof *msg->acks);
            msg->ack_count = msg->acks ? count : 0;
            for (uint32_t i = 0; msg->acks && i < count; i++)
                msg->acks[i] = r_u64(&r, "ack");
        }
    }
    if (f & F_TWEET)
        r_tweet_fields(&r, &msg->tweet, 1);
    if (f & F_TASK_TWEET)
        r_tweet_fields(&r, &msg->tweet, 0);
    if (f & F_ID)
        msg->id = r_str(&r, "id");
    if (f & F_COPIES)
        msg->copies = r_u8(&r, "copies");
    if (f & F_COUNTS)
        for (int i = 0; i < RTP_POOL_COUNT; i++) {
            msg->counts[i] = r_u32(&r, "counts");
            msg->restarts[i] = r_u32(&r, "restarts");
        }
    if (!r.failed && r.p != r.end)
        r.failed = "trailing bytes";
    if (!r.failed && (f & F_POOL) && msg->pool >= RTP_POOL_COUNT)
        r.failed = "pool";
    if (r.failed) {
        rtp_err_set(err, "malformed %s message: bad %s", rtp_msg_type_name(msg->type), r.failed);
        rtp_msg_destroy(&msg);
        return NULL;
    }
    return msg;
}

/* One encoding buffer per thread: no allocation per message once warmed up. */
static __thread uint8_t *s_buf = NULL;
static __thread size_t s_cap = 0;

int rtp_msg_send(const rtp_msg_t *msg, void *sock, const rtp_peer_t *peer, int flags)
{
    return rtp_msg_send_bundle((rtp_msg_t *const *) &msg, 1, sock, peer, flags);
}

void rtp_packed_header(uint8_t hdr[4])
{
    s_header(hdr, RTP_PACKED_TYPE);
}

int rtp_packed_append(uint8_t **buf, size_t *cap, size_t *len, const uint8_t hdr[4], const uint8_t *body,
                      size_t body_len)
{
    if (body_len > UINT32_MAX || s_reserve(buf, cap, *len + 8 + body_len) != 0)
        return -1;
    uint8_t *p = *buf + *len;
    memcpy(p, hdr, 4);
    p = w_u32(p + 4, (uint32_t) body_len);
    if (body_len)
        memcpy(p, body, body_len);
    *len += 8 + body_len;
    return 0;
}

/* Per thread: the packed body being built (handed to ZeroMQ when sent; s_pack_cap
 * is then the size hint of the next one). */
static __thread uint8_t *s_pack = NULL;
static __thread size_t s_pack_cap = 0;

/* The routing id (when peer is not NULL), a header frame and a body frame, as one
 * ZeroMQ message: ZeroMQ queues the parts of a message atomically, so once the
 * first part is taken the rest will be too (a later part cannot fail with EAGAIN).
 * Everything is encoded before the first part goes: a failure leaves no message
 * half sent. */
/* The routing id (when peer is not NULL) and the header frame: the parts before a
 * body; flags (ZMQ_DONTWAIT) apply to the first, which decides for the message. */
static int s_send_head(void *handle, const rtp_peer_t *peer, int flags, const uint8_t hdr[4])
{
    if (peer && zmq_send(handle, peer->data, peer->len, flags | ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_send(handle, hdr, 4, (peer ? 0 : flags) | ZMQ_SNDMORE) < 0 ? -1 : 0;
}

static int s_send_pair(void *handle, const rtp_peer_t *peer, int flags, const uint8_t hdr[4],
                       const void *body, size_t len)
{
    if (s_send_head(handle, peer, flags, hdr) != 0)
        return -1;
    return zmq_send(handle, len ? body : "", len, 0) < 0 ? -1 : 0;
}

int rtp_packed_add(uint8_t **buf, size_t *cap, size_t *len, const rtp_msg_t *msg)
{
    uint8_t hdr[4];
    size_t body_len = 0;
    if (s_encode_at(msg, hdr, buf, cap, *len + 8, &body_len) != 0 || body_len > UINT32_MAX)
        return -1;
    memcpy(*buf + *len, hdr, 4);
    w_u32(*buf + *len + 4, (uint32_t) body_len);
    *len += 8 + body_len;
    return 0;
}

static void s_free_body(void *data, void *hint)
{
    (void) hint;
    free(data);
}

int rtp_packed_send(uint8_t **body, size_t len, void *sock, const rtp_peer_t *peer, int flags)
{
    void *handle = zsock_resolve(sock);
    if (!*body || len < 8) {
        errno = EINVAL;
        return -1;
    }
    uint8_t hdr[4];
    rtp_packed_header(hdr);
    if (s_send_head(handle, peer, flags, hdr) != 0)
        return -1;
    /* the first part went, so this one goes too: ZeroMQ takes the body (no copy)
     * and frees it once written */
    zmq_msg_t part;
    if (zmq_msg_init_data(&part, *body, len, s_free_body, NULL) != 0)
        return -1;
    *body = NULL;
    if (zmq_msg_send(&part, handle, 0) < 0) {
        int e = errno;
        zmq_msg_close(&part);
        errno = e;
        return -1;
    }
    return 0;
}

int rtp_msg_send_bundle(rtp_msg_t *const *msgs, size_t n, void *sock, const rtp_peer_t *peer, int flags)
{
    void *handle = zsock_resolve(sock);
    if (n == 0 || n > RTP_BUNDLE_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t len = 0;
    if (n == 1) {
        uint8_t hdr[4];
        if (rtp_msg_encode(msgs[0], hdr, &s_buf, &s_cap, &len) != 0) {
            errno = EINVAL;
            return -1;
        }
        return s_send_pair(handle, peer, flags, hdr, s_buf, len);
    }
    for (size_t i = 0; i < n; i++)
        if (rtp_packed_add(&s_pack, &s_pack_cap, &len, msgs[i]) != 0) {
            errno = EINVAL;
            return -1;
        }
    return rtp_packed_send(&s_pack, len, sock, peer, flags);
}

int rtp_encoded_set(rtp_encoded_t *self, const rtp_msg_t *msg)
{
    return rtp_msg_encode(msg, self->hdr, &self->body, &self->cap, &self->len);
}

void rtp_encoded_clear(rtp_encoded_t *self)
{
    free(self->body);
    memset(self, 0, sizeof *self);
}

int rtp_encoded_task_mark(rtp_encoded_t *self, uint32_t credit, uint8_t copies)
{
    /* a TASK's body: key (8 bytes), kind (1), credit (4), ..., copies (its last
     * byte); test_proto checks this against the encoder */
    if (self->hdr[3] != RTP_MSG_TASK || self->len < 8 + 1 + 4 + 1)
        return -1;
    w_u32(self->body + 9, credit);
    self->body[self->len - 1] = copies;
    return 0;
}

int rtp_encoded_send_bundle(const rtp_encoded_t *const *msgs, size_t n, void *sock, const rtp_peer_t *peer,
                            int flags)
{
    void *handle = zsock_resolve(sock);
    if (n == 0 || n > RTP_BUNDLE_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (n == 1)
        return s_send_pair(handle, peer, flags, msgs[0]->hdr, msgs[0]->body, msgs[0]->len);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        if (rtp_packed_append(&s_pack, &s_pack_cap, &len, msgs[i]->hdr, msgs[i]->body, msgs[i]->len) != 0) {
            errno = EINVAL;
            return -1;
        }
    return rtp_packed_send(&s_pack, len, sock, peer, flags);
}

static void s_drain_rest(void *handle)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(handle, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        zmq_msg_recv(&part, handle, 0);
        zmq_msg_close(&part);
    }
}

rtp_msg_t *rtp_msg_recv(void *sock, rtp_peer_t *peer, int flags, rtp_err_t *err)
{
    rtp_msg_t *msg = NULL;
    return rtp_msg_recv_bundle(sock, peer, flags, &msg, 1, err) ? msg : NULL;
}

size_t rtp_packed_decode(const uint8_t *body, size_t len, rtp_msg_t **out, size_t max, rtp_err_t *err)
{
    size_t n = 0, at = 0;
    while (at < len) {
        if (n == max) {
            rtp_err_set(err, "malformed message: a packed bundle of more than %zu messages", max);
            break;
        }
        if (len - at < 8) {
            rtp_err_set(err, "malformed message: a packed bundle cut short at byte %zu", at);
            break;
        }
        const uint8_t *p = body + at;
        size_t body_len = (size_t) p[4] << 24 | (size_t) p[5] << 16 | (size_t) p[6] << 8 | p[7];
        if (body_len > len - at - 8) {
            rtp_err_set(err, "malformed message: a packed message of %zu bytes, %zu left", body_len, len - at - 8);
            break;
        }
        out[n] = rtp_msg_decode(p, 4, p + 8, body_len, err);
        if (!out[n])
            break;
        n++;
        at += 8 + body_len;
    }
    if (at < len || n == 0) {
        if (n == 0 && at >= len)
            rtp_err_set(err, "malformed message: an empty packed bundle");
        while (n > 0)
            rtp_msg_destroy(&out[--n]);
    }
    return n;
}

size_t rtp_msg_recv_bundle(void *sock, rtp_peer_t *peer, int flags, rtp_msg_t **out, size_t max, rtp_err_t *err)
{
    void *handle = zsock_resolve(sock);
    if (max > RTP_BUNDLE_MAX)
        max = RTP_BUNDLE_MAX;
    zmq_msg_t frames[1 + 2 * RTP_BUNDLE_MAX];
    int count = 0, more = 1, first = peer ? 1 : 0, want = first + 2 * (int) max;
    while (more && count < want) {
        zmq_msg_init(&frames[count]);
        if (zmq_msg_recv(&frames[count], handle, count == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(&frames[count]);
            for (int i = 0; i < count; i++)
                zmq_msg_close(&frames[i]);
            rtp_err_set(err, "receive: %s", zmq_strerror(e));
            errno = e;
            return 0;
        }
        more = zmq_msg_more(&frames[count]);
        count++;
    }
    size_t n = 0;
    if (peer && count > 0) {   /* the routing id (read by the caller only when n > 0) */
        size_t len = zmq_msg_size(&frames[0]);
        peer->len = len < sizeof peer->data ? len : sizeof peer->data;
        memcpy(peer->data, zmq_msg_data(&frames[0]), peer->len);
    }
    if (more) {
        s_drain_rest(handle);
        rtp_err_set(err, "malformed message: more than %d frames", want);
    } else if (count == first + 2 && zmq_msg_size(&frames[first]) == 4 &&
               ((const uint8_t *) zmq_msg_data(&frames[first]))[3] == RTP_PACKED_TYPE) {
        const uint8_t *h = zmq_msg_data(&frames[first]);
        if (h[0] != 'R' || h[1] != 'T' || h[2] != RTP_PROTO_VERSION)
            rtp_err_set(err, "malformed message: a packed bundle's header is not rtp version %d", RTP_PROTO_VERSION);
        else
            n = rtp_packed_decode(zmq_msg_data(&frames[first + 1]), zmq_msg_size(&frames[first + 1]), out, max,
                                  err);
    } else if (count < first + 2 || (count - first) % 2)
        rtp_err_set(err, "malformed message: %d frame(s), expected %s%d", count, max > 1 ? "pairs after " : "",
                    max > 1 ? first : want);
    else {
        for (int i = first; i < count; i += 2) {
            out[n] = rtp_msg_decode(zmq_msg_data(&frames[i]), zmq_msg_size(&frames[i]),
                                    zmq_msg_data(&frames[i + 1]), zmq_msg_size(&frames[i + 1]), err);
            if (!out[n]) {
                while (n > 0)
                    rtp_msg_destroy(&out[--n]);
                break;
            }
            n++;
        }
    }
    for (int i = 0; i < count; i++)
        zmq_msg_close(&frames[i]);
    if (!n)
        errno = EPROTO;
    return n;
}
